"""Submissions over HTTP: propose, review, audit; a contributor cannot accept."""

from __future__ import annotations

from keten.api.keys import Role
from keten.schema.markings import Tlp
from tests.api.conftest import Api

PROPOSAL = {
    "bundle": {
        "entities": [{"id": "org:dunea", "kind": "Organisation", "name": "Dunea"}],
        "relations": [{"source": "org:dunea", "target": "vp:water", "type": "OPERATES"}],
    },
    "institute": "institute:tno",
    "note": "operator of the water process",
}


def test_submit_review_and_audit(api: Api) -> None:
    contributor = api.client(Role.CONTRIBUTOR)
    reviewer = api.client(Role.REVIEWER)
    reader = api.client(Role.READER)

    created = contributor.post("/submissions", json=PROPOSAL)
    assert created.status_code == 201, created.text
    submission = created.json()
    assert submission["status"] == "pending" and submission["counts"]["entities_created"] == 1
    assert reader.get("/entities/org:dunea").status_code == 404

    refused = contributor.post(f"/submissions/{submission['id']}/accept")
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("forbidden-role")
    assert reader.get("/submissions").status_code == 403

    pending = reviewer.get("/submissions", params={"status": "pending"}).json()
    assert [s["id"] for s in pending] == [submission["id"]]
    accepted = reviewer.post(f"/submissions/{submission['id']}/accept")
    assert accepted.status_code == 200 and accepted.json()["entities_created"] == 1
    entity = reader.get("/entities/org:dunea").json()
    assert entity["institute"] == "institute:tno" and entity["contributor"].startswith("key:")

    again = reviewer.post(f"/submissions/{submission['id']}/accept")
    assert again.status_code == 409

    trail = reviewer.get("/audit", params={"entity": "org:dunea"}).json()["items"]
    assert {(e["action"], e["submission"]) for e in trail} == {("create", submission["id"])}
    assert len(trail) == 2  # the entity and its relation
    assert reader.get("/audit").status_code == 403


def test_reject_and_bad_submissions(api: Api) -> None:
    contributor = api.client(Role.CONTRIBUTOR, Tlp.GREEN)
    reviewer = api.client(Role.REVIEWER)
    submission = contributor.post("/submissions", json=PROPOSAL).json()
    rejected = reviewer.post(
        f"/submissions/{submission['id']}/reject", json={"reason": "no source cited"}
    )
    assert rejected.json()["status"] == "rejected" and rejected.json()["reason"]
    assert reviewer.post("/submissions/sub-nope/accept").status_code == 404

    bad = {"bundle": {"relations": [{"source": "x:1", "target": "vp:water", "type": "DEPENDS_ON"}]}}
    answer = contributor.post("/submissions", json=bad)
    assert answer.status_code == 422 and answer.json()["errors"][0]["value"] == "x:1"

    secret = {
        "bundle": {
            "entities": [
                {"id": "org:s@amber", "kind": "Organisation", "name": "S", "marking": "amber"}
            ]
        }
    }
    assert contributor.post("/submissions", json=secret).status_code == 403
    assert [s["status"] for s in reviewer.get("/submissions").json()] == ["rejected"]
    assert reviewer.get("/audit", params={"since": "not a date"}).status_code == 422
    assert reviewer.get("/audit", params={"cursor": "bad"}).status_code == 422
