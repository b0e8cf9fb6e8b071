"""Property-based conformance: schemathesis drives every operation of the running API.

Cases are generated from the OpenAPI document the server publishes; each answer must not be
a server error and must match the documented status codes, content types and schemas. Every
operation is driven with a key of each role (reader, contributor, reviewer, admin; all
cleared for red), so the refusals (403) are checked against the document as well as the
answers. The example count per role is bounded so the four runs together stay under a
minute. (schemathesis' pytest loader does not yet work with pytest 9, so the operations are
driven with hypothesis here.)
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Ok

from keten.api.keys import Role
from tests.api.conftest import Api

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = {Role.READER: 4, Role.CONTRIBUTOR: 4, Role.REVIEWER: 4, Role.ADMIN: 12}
"""Examples per operation: the admin reaches every route's own checks; the other roles are
mostly refused early, so fewer cases cover them."""


@pytest.mark.parametrize("role", list(Role))
def test_every_operation_conforms_to_the_published_schema(api: Api, role: Role) -> None:
    schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json")
    key = api.key(role)
    # both headers, so that generated credentials never replace the real key
    headers = {"X-API-Key": key, "Authorization": f"Bearer {key}"}
    failures: dict[str, str] = {}
    results = list(schema.get_all_operations())
    assert all(isinstance(result, Ok) for result in results), "the schema has invalid operations"
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) >= 14

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES[role],
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            check()
        except Exception as failure:  # collect every operation's failure, not just the first
            failures[operation.label] = str(failure)[:2000]
    assert not failures, "\n\n".join(f"{label}:\n{why}" for label, why in failures.items())
