"""The console without a browser: sign-in rules, and the pure helpers its pages use."""

from __future__ import annotations

import datetime as dt
import re

import httpx

from mdm_hub.console.charts import line_chart
from mdm_hub.console.customer_view import diff, level_class, waterfall
from mdm_hub.console.i18n import MESSAGES, translate
from mdm_hub.console.web import jst, reason_text, wareki_date
from mdm_hub.settings import Settings
from tests.conftest import app_client


async def _login_form(client: httpx.AsyncClient) -> str:
    page = await client.get("/console/login")
    assert page.status_code == 200
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


async def test_dev_sign_in_needs_its_form_token_and_a_known_role(client_as: object) -> None:
    async with client_as(None) as browser:  # type: ignore[operator]
        token = await _login_form(browser)
        forged = await browser.post(
            "/console/login", data={"csrf": "x" * 43, "role": "administrator"}
        )
        assert forged.status_code == 303 and "error=csrf" in forged.headers["location"]
        unknown = await browser.post("/console/login", data={"csrf": token, "role": "root"})
        assert "error=input" in unknown.headers["location"]
        assert (await browser.get("/console")).status_code == 303  # still signed out
        ok = await browser.post(
            "/console/login", data={"csrf": token, "role": "viewer", "next": "https://evil/"}
        )
        assert ok.status_code == 303 and ok.headers["location"] == "/console"
        me = (await browser.get("/auth/me")).json()
        assert me["roles"] == ["viewer"] and me["via"] == "session"
        home = await browser.get("/console")
        assert home.status_code == 200 and "利用者" in home.text
        assert "script-src 'self'" in home.headers["content-security-policy"]


async def test_without_an_issuer_there_is_no_role_picker(database_url: str) -> None:
    async with app_client(Settings(database_url=database_url)) as browser:
        page = await browser.get("/console/login")
        assert "サインインの方法が設定されていません" in page.text
        assert 'name="role"' not in page.text
        posted = await browser.post("/console/login", data={"role": "administrator"})
        assert posted.status_code == 303
        assert (await browser.get("/auth/me")).status_code == 401


async def test_api_paths_still_refuse_form_bodies(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/match", data={"kind": "corporation"})
    assert response.status_code == 415


def test_dates_in_jst_with_the_japanese_era() -> None:
    moment = dt.datetime(2019, 4, 30, 15, 30, tzinfo=dt.UTC)  # 5月1日 00:30 JST: 令和元年
    assert jst(moment) == "2019-05-01 00:30 JST（令和元年）"
    assert jst(moment, "en") == "2019-05-01 00:30 JST"
    assert wareki_date("2020-04-01") == "2020-04-01（令和2年4月1日）"
    assert wareki_date("1989-01-07") == "1989-01-07（昭和64年1月7日）"
    assert wareki_date("1989-01-08") == "1989-01-08（平成元年1月8日）"


def test_every_message_has_both_languages() -> None:
    assert set(MESSAGES["ja"]) == set(MESSAGES["en"])
    assert translate("en", "review.merge") == "Merge"
    assert translate("fr", "review.merge") == "統合"  # unknown language: Japanese
    assert translate("en", "no.such.key") == "no.such.key"


def test_reasons_for_the_steward() -> None:
    assert "自動統合の基準" in reason_text("best candidate p=0.9000 between thresholds", "ja")
    text = reason_text("best candidate p=0.9900 but hard rule different_corporate_number", "ja")
    assert "法人番号が異なる" in text and "99.0%" in text
    assert reason_text("something new", "ja") == "something new"


def test_waterfall_adds_up_to_the_match_weight() -> None:
    explanation = {
        "prior_weight": -10.0,
        "match_weight": 4.0,
        "comparisons": [
            {"field": "name", "level": "exact", "weight": 16.0},
            {"field": "phone", "level": "different", "weight": -2.0},
        ],
    }
    chart = waterfall(explanation)
    steps = chart.bars[1:-1]
    assert chart.bars[0].end == -10.0 and steps[-1].end == 4.0 == chart.total
    assert [b.css for b in steps] == ["positive", "negative"]
    assert chart.low < -10.0 and chart.high > 6.0
    assert level_class("kana_equal") == "exact" and level_class("other_street") == "different"


def test_diff_lists_changed_fields_only() -> None:
    changes = diff(
        {"name": "A", "phones": [{"number": "1"}]}, {"name": "B", "phones": [{"number": "1"}]}
    )
    assert [(c.pointer, c.before, c.after) for c in changes] == [("/name", "A", "B")]


def test_line_chart_scales_and_places_the_days() -> None:
    days = ["2026-12-01", "2026-12-02", "2026-12-03"]
    chart = line_chart(days, [("a", [0.0, None, 1.0]), ("b", [0.5, 0.5, 0.5])], percent=True)
    a, b = chart.lines
    assert b.points.count(",") == 3 and b.last == "50.0%"
    # A day without the figure is left out of the line; shares run 0–100 %.
    assert len(a.dots) == 2 and a.last == "100.0%"
    (x0, y0, _, _), (x2, y2, _, shown) = a.dots
    assert x0 == chart.left and x2 == chart.width - 28 and shown == "100.0%"
    assert y0 == 8 + chart.plot_height and y2 == 8
    assert [label for _, label in chart.ticks] == ["0.0%", "25.0%", "50.0%", "75.0%", "100.0%"]
    assert [day for _, day in chart.labels] == ["12-01", "12-02", "12-03"]
    counts = line_chart(days, [("n", [0, 3, 7])], percent=False)
    assert [label for _, label in counts.ticks] == ["0", "2", "4", "6", "8"]
    assert line_chart(days, [("n", [0, 0, 1])], percent=False).ticks[-1][1] == "4"
