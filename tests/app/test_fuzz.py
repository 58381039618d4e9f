"""Schema fuzzing of every operation against a live hub (schemathesis, issue 14).

A uvicorn on 127.0.0.1 serves the app on the test database; an administrator's token reaches
every operation. Before each operation the tables are emptied and seeded again with real ids
(a person and a near duplicate that make a review candidate, a corporation, a custom field,
a webhook endpoint and a delivery), so merge, unmerge, decisions and replay are reached, not
answered 404. Each operation gets the schema's own examples, valid data (once with the seeded
ids in the path, once with generated ones) and invalid data. Checks: no 5xx, every answer
conforms to its documented schema and content type, every error is problem+json.

Bounded: ``FUZZ_EXAMPLES`` (default 15) generated cases per strategy and operation, derandomized,
no shrinking; docs/security.md has the figures and how to run it harder.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from typing import Any

import asyncpg
import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from mdm_hub.auth.dev_issuer import DevIssuer
from tests.app.test_serve import _free_port
from tests.conftest import _asyncpg_dsn, auth_headers
from tests.helpers import PERSON, corporation

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))


class ProblemJsonExpected(AssertionError):
    pass


@schemathesis.check
def problem_json_on_errors(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx and 5xx answer is RFC 9457 problem+json."""
    if response.status_code >= 400:
        content_type = (response.headers.get("content-type") or [""])[0]
        if not content_type.startswith("application/problem+json"):
            raise ProblemJsonExpected(
                f"{response.status_code} answered {content_type!r}, not application/problem+json"
            )
    return None


CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    content_type_conformance,
    problem_json_on_errors,
]


def _truncate(database_url: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(_asyncpg_dsn(database_url))
        try:
            tables = await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename NOT IN ('alembic_version', 'data_keys')"
            )
            names = ", ".join(f'"{t["tablename"]}"' for t in tables)
            await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
        finally:
            await conn.close()

    asyncio.run(run())


def _seed(hub: httpx.Client) -> dict[str, Any]:
    """Real ids for every path parameter."""

    def ok(response: httpx.Response) -> dict[str, Any]:
        assert response.status_code < 300, response.text
        return response.json() if response.content else {}

    person = ok(hub.put("/v1/sources/crm/records/P-1", json=PERSON))["customer"]
    company = ok(hub.put("/v1/sources/billing/records/C-1", json=corporation()))["customer"]
    ok(hub.put("/v1/sources/crm/records/C-3", json=corporation()))  # joins it: two sources
    # Same name and postal code, nothing else to go by: a review candidate.
    unsure = corporation(
        corporate_number=None, phones=[], emails=[], addresses=[{"postal_code": "100-0005"}]
    )
    ok(hub.put("/v1/sources/sfa/records/C-2", json=unsure))
    candidates = ok(hub.get("/v1/match-candidates"))["items"]
    assert candidates, "the near duplicate must make a review candidate"
    ok(hub.post("/v1/custom-fields", json={"key": "tier", "label": "Tier", "type": "string"}))
    endpoint = ok(
        hub.post("/v1/webhooks/endpoints", json={"url": f"http://127.0.0.1:{_free_port()}/h"})
    )
    delivery = ok(hub.post(f"/v1/webhooks/endpoints/{endpoint['id']}/test"))
    return {
        "company_id": company["id"],
        "pair": (candidates[0]["customer_a"]["id"], candidates[0]["customer_b"]["id"]),
        "system": "crm",
        "source_id": "P-1",
        "customer_id": person["id"],
        "candidate_id": candidates[0]["id"],
        "key": "tier",
        "endpoint_id": endpoint["id"],
        "delivery_id": delivery["delivery_id"],
        "slug": "validation-error",
    }


def _seeded_cases(operation: Any, ids: dict[str, Any]) -> list[Any]:
    """Requests that succeed on the seeded data, for the operations that need real ids in the
    body too (random ids there would only ever find nothing)."""
    label = operation.label
    if label == "POST /v1/customers/{customer_id}/merge":
        survivor, other = ids["pair"]
        return [
            operation.Case(
                path_parameters={"customer_id": survivor}, body={"customer_ids": [other]}
            )
        ]
    if label == "POST /v1/customers/{customer_id}/unmerge":
        moved = {"source_records": [{"system": "crm", "source_id": "C-3"}]}
        return [operation.Case(path_parameters={"customer_id": ids["company_id"]}, body=moved)]
    if label == "POST /v1/match-candidates/{candidate_id}/decision":
        return [
            operation.Case(path_parameters={"candidate_id": ids["candidate_id"]}, body=body)
            for body in ({"decision": "distinct"}, {"decision": "merge"})
        ]
    if label == "PATCH /v1/customers/{customer_id}":
        return [
            operation.Case(
                path_parameters={"customer_id": ids["company_id"]},
                headers={"If-Match": '"2"'},
                body={"classification": {"rank": "S"}},
            )
        ]
    return []


def test_every_operation_survives_schema_fuzzing(
    live_hub: str, database_url: str, test_issuer: DevIssuer
) -> None:
    headers = auth_headers(test_issuer)
    schema = schemathesis.openapi.from_url(f"{live_hub}/openapi.json")
    failures: list[str] = []
    statuses: dict[str, Counter[int]] = {}
    operations = 0
    started = time.monotonic()
    with httpx.Client(base_url=live_hub, headers=headers, timeout=30) as hub:
        for result in schema.get_all_operations():
            operation = result.ok()
            operations += 1
            _truncate(database_url)
            ids = _seed(hub)
            names = [p.name for p in operation.path_parameters]
            strategies = [
                *schema.get_strategies_from_examples(operation),
                operation.as_strategy(),
                operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
            ]
            if names and all(n in ids for n in names):  # no held write is seeded
                strategies.append(operation.as_strategy(path_parameters={n: ids[n] for n in names}))

            @settings(
                max_examples=EXAMPLES * len(strategies),
                derandomize=True,
                database=None,
                deadline=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=st.one_of(strategies))
            def fuzz(case: Any) -> None:
                response = case.call(base_url=live_hub, headers=headers, timeout=30)
                label = operation.label  # noqa: B023 (called at once, in this iteration)
                statuses.setdefault(label, Counter())[response.status_code] += 1
                case.validate_response(response, checks=CHECKS)

            try:
                for case in _seeded_cases(operation, ids):
                    response = case.call(base_url=live_hub, headers=headers, timeout=30)
                    statuses.setdefault(operation.label, Counter())[response.status_code] += 1
                    case.validate_response(response, checks=CHECKS)
                fuzz()
            except Exception as exc:  # every operation is fuzzed; all failures are reported
                failures.append(f"{operation.label}: {exc}")
    elapsed = time.monotonic() - started
    calls = sum(sum(c.values()) for c in statuses.values())
    print(f"schema fuzzing: {operations} operations, {calls} requests in {elapsed:.0f} s")
    for label, counts in sorted(statuses.items()):
        print(f"  {label}: {dict(sorted(counts.items()))}")
    assert not failures, "\n\n".join(failures)
    assert operations >= 37
    # The seeded ids reach the operations that act on existing things.
    for label in (
        "POST /v1/customers/{customer_id}/merge",
        "POST /v1/customers/{customer_id}/unmerge",
        "POST /v1/match-candidates/{candidate_id}/decision",
        "POST /v1/webhooks/endpoints/{endpoint_id}/replay",
        "GET /v1/webhooks/endpoints/{endpoint_id}/deliveries",
        "PATCH /v1/customers/{customer_id}",
    ):
        assert any(200 <= code < 300 for code in statuses[label]), f"{label}: {statuses[label]}"
