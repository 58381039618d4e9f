"""A viewer (no pii:read) reads every GET answer and explanation it can reach: none carries a
person's stored values, also not in normalization messages, match explanations or an
Idempotency-Key replay (issue 14, item 1)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from mdm_hub.cli import openapi_document

PERSON_RAW: dict[str, Any] = {
    "kind": "person",
    "person_name": {"family_name": "鈴木", "given_name": "花子"},
    "birth_date": "昭和55年5月5日",
    "phones": [{"number": "０９０（５５５５）６６６６", "purpose": "mobile"}],
    "emails": [{"address": "Hanako.Suzuki@Example.jp"}],
    "addresses": [
        {
            "purpose": "home",
            "postal_code": "〒150-0001",
            "prefecture": "東京都",
            "city": "渋谷区",
            "town": "神宮前",
            "street": "一丁目9番8号",
            "building": "青山ハイツ302",
        }
    ],
}
# Every stored form of the person's sensitive values, raw and normalized.
STORED = (
    "昭和55",
    "1980-05-05",
    "1980",
    "５５５５",
    "5555",
    "hanako.suzuki",
    "Hanako.Suzuki",
    "150-0001",
    "1500001",
    "神宮前",
    "一丁目9番8号",
    "1-9-8",
    "青山ハイツ",
)


def _leaks(text: str) -> list[str]:
    return [value for value in STORED if value in text]


async def test_no_stored_personal_value_reaches_a_viewer(
    client: httpx.AsyncClient, client_as: Callable[..., httpx.AsyncClient]
) -> None:
    written = await client.put("/v1/sources/crm/records/P-1", json=PERSON_RAW)
    assert written.status_code == 201, written.text
    customer_id = written.json()["customer"]["id"]
    # The normalization messages quote the raw and normalized values (for pii:read).
    changes = json.dumps(written.json()["source_record"]["changes"], ensure_ascii=False)
    assert "1980-05-05" in changes and _leaks(changes)
    # A near duplicate from another source: a review candidate with an explanation.
    nearby = json.loads(json.dumps(PERSON_RAW))
    nearby["birth_date"] = "1980-05-06"
    nearby["addresses"][0]["street"] = "1-9-9"
    await client.put("/v1/sources/sfa/records/P-2", json=nearby)
    ids = {
        "customer_id": customer_id,
        "system": "crm",
        "source_id": "P-1",
        "key": "unused",
        "slug": "validation-error",
    }

    seen: list[str] = []
    async with client_as(roles=["viewer"]) as viewer:
        for path, operations in openapi_document()["paths"].items():
            if "get" not in operations or not path.startswith("/v1/"):
                continue
            url = re.sub(r"\{(\w+)\}", lambda m: ids.get(m.group(1), str(uuid.uuid4())), path)
            answer = await viewer.get(url)
            if answer.status_code == 200:
                seen.append(path)
                assert not _leaks(answer.text), (path, _leaks(answer.text))
        assert {
            "/v1/customers",
            "/v1/customers/{customer_id}",
            "/v1/customers/{customer_id}/sources",
            "/v1/sources/{system}/records/{source_id}",
            "/v1/changes",
        } <= set(seen)
        # The dry run explains itself with levels and weights, not the stored values.
        match = await viewer.post("/v1/match", json=nearby)
        assert match.status_code == 200, match.text
        assert match.json()["candidates"], "the stored person must be a candidate"
        comparisons = match.json()["candidates"][0]["comparisons"]
        assert comparisons and all("detail" not in c for c in comparisons)
        assert not _leaks(match.text), _leaks(match.text)


async def test_an_idempotency_replay_is_masked_for_a_token_without_pii_read(
    client: httpx.AsyncClient, client_as: Callable[..., httpx.AsyncClient]
) -> None:
    await client.put("/v1/sources/crm/records/P-1", json=PERSON_RAW)
    nearby = json.loads(json.dumps(PERSON_RAW))
    nearby["birth_date"] = "1980-05-06"
    key = {"Idempotency-Key": str(uuid.uuid4())}
    # The same subject first with pii:read, then with a token that lost it.
    async with client_as(roles=["administrator"], subject="s-1") as admin:
        first = await admin.post("/v1/match", json=nearby, headers=key)
    assert first.status_code == 200 and "1980-05-05" in first.text  # the detail, unmasked
    async with client_as(roles=["viewer"], subject="s-1") as viewer:
        replay = await viewer.post("/v1/match", json=nearby, headers=key)
    assert replay.status_code == 200 and replay.headers.get("Idempotent-Replayed") == "true"
    assert not _leaks(replay.text), _leaks(replay.text)
