"""Every API answer checked against the API's own OpenAPI document with schemathesis (bounded examples).

The operations are walked by hand rather than with schemathesis' pytest plugin, whose fixture loader
does not run under this pytest version; each one still gets Hypothesis-generated cases."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is in the `test` extra")
from hypothesis import HealthCheck, given, settings  # noqa: E402

from tests.integration.serve.conftest import start, stop  # noqa: E402

EXAMPLES = 12  # per operation: the whole walk stays well under a minute


def test_api_answers_match_its_openapi_schema(db, tmp_path):
    running = start(db, tmp_path)
    try:
        schema = schemathesis.openapi.from_url(running.base + "/api/openapi.json")
        operations = [op.ok() for op in schema.get_all_operations()]
        assert len(operations) == 9
        for operation in operations:
            @given(case=operation.as_strategy())
            @settings(max_examples=EXAMPLES, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            def check(case):
                case.call_and_validate(base_url=running.base)

            check()
    finally:
        stop(running)
