"""The key store itself: hashing, key ids, revocation seen by every process sharing the file."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from keten.api.keys import KeyStore, Role, split_key
from keten.schema.markings import Tlp


@pytest.fixture
def keys(tmp_path: Path) -> KeyStore:
    return KeyStore(tmp_path / "keys.sqlite")


def test_keys_are_unique_and_carry_their_id(keys: KeyStore) -> None:
    made = [keys.create(Role.READER) for _ in range(5)]
    assert len({k.secret for k in made}) == 5
    for key in made:
        assert split_key(key.secret) == key.info.key_id


@pytest.mark.parametrize(
    "text", ["", "kt", "kt__x", "kt_short_x", "xx_000000000000_x", "kt_00000000000!_x"]
)
def test_malformed_keys_have_no_id(text: str) -> None:
    assert split_key(text) is None


def test_a_revocation_in_one_process_holds_in_another(tmp_path: Path) -> None:
    """Two stores on one file stand for two server workers: caches must not outlive revocation."""
    first, second = KeyStore(tmp_path / "keys.sqlite"), KeyStore(tmp_path / "keys.sqlite")
    key = first.create(Role.CONTRIBUTOR, Tlp.AMBER)
    assert second.verify(key.secret) is not None  # verified once: now cached in `second`
    assert first.revoke(key.info.key_id)
    assert second.verify(key.secret) is None
    assert not second.revoke(key.info.key_id)
    first.close()
    second.close()


def test_a_cached_key_does_not_admit_a_different_secret(keys: KeyStore) -> None:
    key = keys.create(Role.ADMIN, Tlp.RED)
    assert keys.verify(key.secret) is not None
    forged = key.secret[:-1] + ("A" if key.secret[-1] != "A" else "B")
    assert keys.verify(forged) is None


def test_listing_shows_roles_clearances_and_revocations(keys: KeyStore) -> None:
    a = keys.create(Role.READER, Tlp.GREEN, label="a")
    b = keys.create(Role.ADMIN, Tlp.RED, label="b")
    keys.revoke(a.info.key_id)
    listed = {info.key_id: info for info in keys.list()}
    assert listed[a.info.key_id].revoked_at is not None
    assert (listed[b.info.key_id].role, listed[b.info.key_id].clearance) == (Role.ADMIN, Tlp.RED)
    assert listed[b.info.key_id].revoked_at is None


def test_roles_include_the_ones_below() -> None:
    assert Role.ADMIN.includes(Role.REVIEWER)
    assert Role.REVIEWER.includes(Role.CONTRIBUTOR)
    assert not Role.CONTRIBUTOR.includes(Role.REVIEWER)
    assert Role.READER.includes(Role.READER)


@pytest.mark.parametrize("role", [Role.CONTRIBUTOR, Role.REVIEWER, Role.ADMIN])
def test_keys_that_write_need_green_or_higher(keys: KeyStore, role: Role) -> None:
    with pytest.raises(ValueError, match="needs clearance green or higher"):
        keys.create(role, Tlp.CLEAR)
    assert keys.list() == []
    assert keys.create(role, Tlp.GREEN).info.clearance == Tlp.GREEN
    assert keys.create(Role.READER, Tlp.CLEAR).info.clearance == Tlp.CLEAR


def test_get_finds_one_key_revoked_or_not(keys: KeyStore) -> None:
    key = keys.create(Role.READER, Tlp.AMBER, label="one")
    assert keys.get(key.info.key_id) == key.info
    keys.revoke(key.info.key_id)
    revoked = keys.get(key.info.key_id)
    assert revoked is not None and revoked.revoked_at is not None
    assert keys.get("000000000000") is None


def test_sessions_end_at_logout_expiry_and_revocation(keys: KeyStore) -> None:
    key = keys.create(Role.READER, Tlp.GREEN)
    ended, revoked = (keys.start_session(key.info.key_id, 60) for _ in range(2))
    expired = keys.start_session(key.info.key_id, 0)
    principal = keys.session(ended)
    assert principal is not None and principal.key_id == key.info.key_id
    assert keys.session(expired) is None
    assert keys.end_session(ended) and not keys.end_session(ended)
    assert keys.session(ended) is None
    assert keys.session(revoked) is not None
    keys.revoke(key.info.key_id)
    assert keys.session(revoked) is None


def test_failing_keys_cost_no_scrypt_where_they_need_not(keys: KeyStore) -> None:
    """A scrypt takes tens of milliseconds; refusals that need none take microseconds."""
    key = keys.create(Role.READER, Tlp.GREEN)
    wrong = key.secret[:-1] + ("A" if key.secret[-1] != "A" else "B")

    def seconds(secret: str, times: int = 1) -> float:
        start = time.perf_counter()
        for _ in range(times):
            assert keys.verify(secret) is None
        return time.perf_counter() - start

    one_scrypt = seconds(wrong)  # the first try of a wrong secret is hashed
    assert seconds(wrong, 50) < one_scrypt  # ... and remembered by its SHA-256
    assert seconds("kt_000000000000_" + "x" * 43, 50) < one_scrypt  # unknown key id
    assert seconds("not-a-key", 50) < one_scrypt
    assert keys.verify(key.secret) is not None  # the right key still passes
    assert keys.verified_before(key.secret) and not keys.verified_before(wrong)
