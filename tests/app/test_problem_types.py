"""The problem types (RFC 9457) the API answers with: slug, status and title, as documented
under /problems/<slug>. Titles are derived from slugs unless given (errors._problem): a changed
rule, or a type dropped, fails here."""

from __future__ import annotations

from mdm_hub.errors import PROBLEM_TYPES

EXPECTED = {
    "validation-error": (422, "Invalid input"),
    "malformed-json": (400, "Malformed JSON"),
    "bad-request": (400, "Bad request"),
    "unauthorized": (401, "Unauthorized"),
    "forbidden": (403, "Forbidden"),
    "not-found": (404, "Not found"),
    "method-not-allowed": (405, "Method not allowed"),
    "conflict": (409, "Conflict"),
    "precondition-failed": (412, "Precondition failed"),
    "precondition-required": (428, "Precondition required"),
    "idempotency-key-reused": (422, "Idempotency-Key reused"),
    "payload-too-large": (413, "Payload too large"),
    "unsupported-media-type": (415, "Unsupported media type"),
    "not-acceptable": (406, "Not acceptable"),
    "service-unavailable": (503, "Service unavailable"),
    "internal-error": (500, "Internal error"),
}


def test_problem_types() -> None:
    assert {slug: (p.status, p.title) for slug, p in PROBLEM_TYPES.items()} == EXPECTED
    for slug, problem in PROBLEM_TYPES.items():
        assert problem.uri == f"/problems/{slug}"
        assert problem.description.endswith("."), slug
