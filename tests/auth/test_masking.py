"""Personal data masked for principals without pii:read; unmasked reads are logged."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator

import httpx
import pytest

from mdm_hub.auth.masking import mask_nested, mask_phone, webhook_customer_json
from tests.helpers import PERSON, corporation

PERSON_WITH_ADDRESS = {
    **PERSON,
    "addresses": [
        {
            "postal_code": "100-0005",
            "prefecture": "東京都",
            "city": "千代田区",
            "town": "丸の内",
            "street": "1-2-3",
            "building": "丸の内ビル5F",
        }
    ],
}
CORPORATION_WITH_CONTACT = corporation(
    contacts=[
        {
            "name": "佐藤 花子",
            "department": "経理部",
            "phones": [{"number": "03-9876-5432"}],
            "emails": [{"address": "hanako.sato@abc-shoji.example.jp"}],
        }
    ]
)
SECRETS = ("1234-5678", "09012345678", "taro.yamada", "1980-05-05", "丸の内", "100", "9876-5432")


def _assert_masked(person: dict) -> None:
    text = json.dumps(person, ensure_ascii=False)
    for secret in SECRETS:
        assert secret not in text, secret
    assert person["phones"][0]["number"] == "***-****-5678"
    assert person["emails"][0]["address"] == "***@example.jp"
    assert person["birth_date"] is None
    address = person["addresses"][0]
    assert address["prefecture"] == "東京都" and address["city"] == "千代田区"
    assert address["town"] is None and address["street"] is None and address["postal_code"] is None
    assert person["person_name"]["family_name"] == "山田"  # still recognisable


@pytest.fixture
def pii_log() -> Iterator[list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Collect()
    logger = logging.getLogger("mdm_hub.pii_access")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield records
    logger.removeHandler(handler)


async def test_customers_are_masked_without_pii_read(
    client: httpx.AsyncClient,
    client_as: Callable[..., httpx.AsyncClient],
    pii_log: list[logging.LogRecord],
) -> None:
    created = (await client.put("/v1/sources/crm/records/P1", json=PERSON_WITH_ADDRESS)).json()
    customer_id = created["customer"]["id"]
    pii_log.clear()

    for grants in ({"roles": ["viewer"]}, {"roles": [], "scopes": ["customers:read"]}):
        async with client_as(**grants) as reader:
            one = (await reader.get(f"/v1/customers/{customer_id}")).json()
            _assert_masked(one)
            _assert_masked((await reader.get("/v1/customers")).json()["items"][0])
            sources = (await reader.get(f"/v1/customers/{customer_id}/sources")).json()
            _assert_masked(sources[0]["raw_payload"])
            _assert_masked(sources[0]["normalized"])
            source = (await reader.get("/v1/sources/crm/records/P1")).json()
            _assert_masked(source["raw_payload"])
            changes = (await reader.get("/v1/changes")).json()["items"]
            _assert_masked(changes[0]["data"]["customer"])
    assert pii_log == [], "masked reads are not personal-data access"

    # A writer without pii:read gets its answer masked too (it carries the golden record).
    async with client_as(roles=[], scopes=["customers:write"]) as writer:
        written = (await writer.put("/v1/sources/sfa/records/P1", json=PERSON_WITH_ADDRESS)).json()
        _assert_masked(written["customer"])

    async with client_as(roles=[], scopes=["customers:read", "pii:read"], subject="billing") as pii:
        full = (await pii.get(f"/v1/customers/{customer_id}")).json()
    assert full["birth_date"] == "1980-05-05"
    assert full["emails"][0]["address"] == "taro.yamada@example.jp"
    assert full["addresses"][0]["town"] == "丸の内"


async def test_unmasked_reads_are_logged(
    client: httpx.AsyncClient, pii_log: list[logging.LogRecord]
) -> None:
    created = (await client.put("/v1/sources/crm/records/P1", json=PERSON_WITH_ADDRESS)).json()
    customer_id = created["customer"]["id"]
    pii_log.clear()
    await client.get(f"/v1/customers/{customer_id}", headers={"X-Request-ID": "pii-1"})
    assert len(pii_log) == 1
    line = pii_log[0]
    assert line.subject == "test-admin" and line.client_id == "test-client"  # type: ignore[attr-defined]
    assert line.customer_id == customer_id  # type: ignore[attr-defined]
    assert line.fields == ["/addresses", "/birth_date", "/emails", "/phones"]  # type: ignore[attr-defined]
    assert line.what == "customer"  # type: ignore[attr-defined]
    # The log line names fields, never their values.
    assert "taro" not in json.dumps(vars(line), default=str)


async def test_contact_persons_of_corporations_are_masked(
    client: httpx.AsyncClient, client_as: Callable[..., httpx.AsyncClient]
) -> None:
    created = await client.put("/v1/sources/crm/records/C1", json=CORPORATION_WITH_CONTACT)
    customer_id = created.json()["customer"]["id"]
    async with client_as(roles=["viewer"]) as viewer:
        corp = (await viewer.get(f"/v1/customers/{customer_id}")).json()
    # The company's own phone, email and address are business data: not masked.
    assert corp["phones"][0]["number"] == "03-1234-5678"
    assert corp["addresses"][0]["town"] == "丸の内"
    contact = corp["contacts"][0]
    assert contact["name"] == "佐藤 花子"
    assert contact["phones"][0]["number"] == "**-****-5432"
    assert contact["emails"][0]["address"] == "***@abc-shoji.example.jp"


def test_mask_phone_keeps_the_last_four_digits() -> None:
    assert mask_phone("090-1234-5678") == "***-****-5678"
    assert mask_phone("+819012345678") == "+********5678"
    assert mask_phone("12") == "12"


def test_audit_before_and_after_are_masked() -> None:
    entry = {
        "record": {**PERSON_WITH_ADDRESS},
        "raw_payload": {**PERSON_WITH_ADDRESS},
        "customer_code": "C00000001",
    }
    masked = mask_nested(entry)
    _assert_masked(masked["record"])
    _assert_masked(masked["raw_payload"])
    assert masked["customer_code"] == "C00000001"
    assert entry["record"]["birth_date"] == "1980-05-05", "the original is not changed"


def test_webhook_payloads_are_masked_unless_configured() -> None:
    person = json.dumps({**PERSON_WITH_ADDRESS, "id": "x"}, ensure_ascii=False)
    masked = json.loads(webhook_customer_json(person.replace('":', '": '), include_pii=False))
    _assert_masked(masked)
    assert webhook_customer_json(person, include_pii=True) == person
    corp = json.dumps(corporation(), ensure_ascii=False)
    assert webhook_customer_json(corp, include_pii=False) == corp  # not decoded again
