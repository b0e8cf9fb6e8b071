"""The published OpenAPI document: examples on request bodies, both key schemes, problem errors."""

from __future__ import annotations

from typing import Any

import httpx

from keten.api.keys import Role
from tests.api.conftest import Api


def has_example(node: Any) -> bool:
    """True when an example or examples member appears anywhere under `node`."""
    if isinstance(node, dict):
        return "example" in node or "examples" in node or any(map(has_example, node.values()))
    if isinstance(node, list):
        return any(map(has_example, node))
    return False


def resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Follow one local $ref."""
    ref = node.get("$ref")
    if not ref:
        return node
    target: Any = spec
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return dict(target)


def test_every_request_body_has_an_example(shared_api: Api) -> None:
    spec = httpx.get(f"{shared_api.url}/openapi.json").json()
    bodies = {
        f"{method.upper()} {path}": operation["requestBody"]["content"]["application/json"]
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if "requestBody" in operation and "application/json" in operation["requestBody"]["content"]
    }
    assert {"POST /entities", "POST /relations", "POST /ingest", "POST /analysis/cascade"} <= set(
        bodies
    )
    missing = [
        name
        for name, content in bodies.items()
        if not has_example(content) and not has_example(resolve(spec, content.get("schema", {})))
    ]
    assert missing == []


def test_keys_are_declared_and_errors_are_problems(shared_api: Api) -> None:
    spec = httpx.get(f"{shared_api.url}/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert {(s["type"], s.get("scheme"), s.get("name")) for s in schemes.values()} == {
        ("http", "bearer", None),
        ("apiKey", None, "X-API-Key"),
    }
    read_entity = spec["paths"]["/entities/{entity_id}"]["get"]
    for status in ("401", "404", "422"):
        assert "application/problem+json" in read_entity["responses"][status]["content"]
    assert "security" not in spec["paths"]["/health"]["get"]
    assert read_entity["operationId"] == "entities-read_entity"


def test_common_problems_are_declared_on_every_operation(shared_api: Api) -> None:
    answer = httpx.get(f"{shared_api.url}/openapi.json")  # open: the document holds no data
    assert answer.status_code == 200
    spec = answer.json()
    missing = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            needed = {"400", "413"} if "requestBody" in operation else set()
            needed |= {"401", "429"} if operation.get("security") else set()
            for status in sorted(needed):
                content = operation["responses"].get(status, {}).get("content", {})
                if "application/problem+json" not in content:
                    missing.append(f"{method.upper()} {path} {status}")
    assert missing == []
    with_body = [
        op for item in spec["paths"].values() for op in item.values() if "requestBody" in op
    ]
    assert len(with_body) >= 10
    malformed = spec["paths"]["/keys"]["post"]["responses"]["400"]["description"]
    assert "not valid JSON" in malformed


def test_malformed_json_answers_the_declared_400_on_every_body(shared_api: Api) -> None:
    spec = httpx.get(f"{shared_api.url}/openapi.json").json()
    admin = shared_api.client(Role.ADMIN)
    statuses = {}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if "requestBody" in operation:
                url = path.replace("{name}", "x").replace("{submission_id}", "sub-x")
                answer = admin.request(
                    method, url, content=b'{"a": ', headers={"content-type": "application/json"}
                )
                statuses[f"{method.upper()} {path}"] = answer.status_code
    assert set(statuses.values()) == {400}, statuses
