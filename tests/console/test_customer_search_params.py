"""顧客検索's query parameters (console/customers.py): the search form's fields and the quality
page's links, read once as dataclasses and handed on as the page keeps them and as
``GET /v1/customers``'s quality query."""

from __future__ import annotations

import re

import httpx

from mdm_hub.console.customers import _QualityLinks, _SearchForm
from mdm_hub.customers.search import QualityQuery


def test_the_links_given_in_order_without_the_empty_ones() -> None:
    links = _QualityLinks(
        source_not_updated_days=5,
        kind="",  # an empty select: not given
        missing="phone,email",
        not_updated_days=0,  # zero days is given
        source_system="crm",
        source_missing="email",
    )
    assert list(links.given().items()) == [
        ("missing", "phone,email"),
        ("not_updated_days", 0),
        ("source_system", "crm"),
        ("source_missing", "email"),
        ("source_not_updated_days", 5),
    ]
    assert links.query() == QualityQuery(
        missing=["phone,email"],
        not_updated_days=0,
        source_system="crm",
        source_missing=["email"],
        source_not_updated_days=5,
    )
    assert _QualityLinks().given() == {} and _QualityLinks().query() == QualityQuery()


def test_the_search_form_values_are_stripped_and_never_none() -> None:
    assert _SearchForm(name=" 山田 ", code=None).values() == {
        "name": "山田",
        "phone": "",
        "email": "",
        "corporate_number": "",
        "code": "",
        "postal_code": "",
    }


async def test_a_quality_link_lists_its_customers_and_keeps_its_filters(
    client: httpx.AsyncClient,
) -> None:
    for source_id, extra in (("QL-1", {}), ("QL-2", {"phones": [{"number": "03-3333-0001"}]})):
        put = await client.put(
            f"/v1/sources/crm/records/{source_id}",
            json={"kind": "corporation", "name": f"株式会社品質{source_id[-1]}", **extra},
        )
        assert put.status_code == 201, put.text
    page = await client.get(
        "/console/customers",
        params={"missing": "phone", "kind": "", "not_updated_days": 0, "name": " 品質 "},
    )
    assert page.status_code == 200, page.text
    assert "株式会社品質1" in page.text and "株式会社品質2" not in page.text
    hidden = re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">', page.text)
    assert [h for h in hidden if h[0] != "csrf"] == [
        ("missing", "phone"),
        ("not_updated_days", "0"),
    ]
    assert 'value="品質"' in page.text  # the name field as typed, stripped

    too_long = await client.get("/console/customers", params={"missing": "x" * 401})
    assert too_long.status_code == 422
