"""What every console page shares: templates, language, the navigation, forms, dates.

A page is a router in this package plus a template; it renders with :func:`render`, which
gives the template the signed-in principal, the language, the CSRF token and the navigation.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from mdm_hub.auth.authn import SESSION_CSRF
from mdm_hub.auth.roles import Permission, Principal
from mdm_hub.console.i18n import LANG_COOKIE, language, translate
from mdm_hub.errors import ProblemError

PREFIX = "/console"
HERE = Path(__file__).parent
JST = ZoneInfo("Asia/Tokyo")
MAX_FORM_BYTES = 64 * 1024


@dataclass(frozen=True)
class NavItem:
    """One entry of the navigation."""

    key: str  # message key of the label
    path: str
    permission: Permission | None = None


# The navigation, in order. A new page appends its entry here (docs/console.md).
NAV: list[NavItem] = [
    NavItem("nav.home", "/console"),
    NavItem("nav.review", "/console/review", Permission.customers_curate),
    NavItem("nav.customers", "/console/customers", Permission.customers_read),
    NavItem("nav.webhooks", "/console/webhooks", Permission.webhooks_read),
    NavItem("nav.access_log", "/console/access-log", Permission.privacy_manage),
    NavItem("nav.imports", "/console/imports", Permission.customers_write),
    NavItem("nav.quality", "/console/quality", Permission.customers_read),
    NavItem("nav.approvals", "/console/approvals", Permission.customers_curate),
    NavItem("nav.proposals", "/console/registry/proposals", Permission.customers_read),
]


def _era(day: dt.date) -> str:
    """和暦 of a date: 令和8年 (元年 for the first year)."""
    for start, name in (
        (dt.date(2019, 5, 1), "令和"),
        (dt.date(1989, 1, 8), "平成"),
        (dt.date(1926, 12, 25), "昭和"),
    ):
        if day >= start:
            year = day.year - start.year + 1
            return f"{name}{'元' if year == 1 else year}年"
    return ""


def jst(value: dt.datetime | None, lang: str = "ja") -> str:
    """A time in JST, with the 和暦 year beside it in Japanese."""
    if value is None:
        return "—"
    local = value.astimezone(JST)
    text = local.strftime("%Y-%m-%d %H:%M")
    return f"{text} JST（{_era(local.date())}）" if lang == "ja" else f"{text} JST"


def wareki_date(value: str | None) -> str:
    """An ISO date of a record (2020-04-01) with its 和暦 (令和2年4月1日)."""
    if not value:
        return ""
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        return value
    return f"{value}（{_era(day)}{day.month}月{day.day}日）"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


_BETWEEN = re.compile(r"p=([0-9.]+) between thresholds")
_HARD_RULE = re.compile(r"p=([0-9.]+) but hard rule (\w+)")


def reason_text(reason: str, lang: str) -> str:
    """The matcher's reason (English, for logs) as a sentence for the steward."""
    if found := _BETWEEN.search(reason):
        return translate(lang, "reason.between", p=percent(float(found.group(1))))
    if found := _HARD_RULE.search(reason):
        rule = translate(lang, f"rule.{found.group(2)}")
        return translate(lang, "reason.hard_rule", p=percent(float(found.group(1))), rule=rule)
    return reason


templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters["percent"] = percent
templates.filters["wareki"] = wareki_date


def lang_of(request: Request) -> str:
    return language(request.cookies.get(LANG_COOKIE))


def csrf_token(request: Request) -> str:
    return str(request.session.get(SESSION_CSRF, ""))


def principal_of(request: Request) -> Principal | None:
    return getattr(request.state, "principal", None)


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    lang = lang_of(request)
    principal = principal_of(request)

    def t(key: str, **values: Any) -> str:
        return translate(lang, key, **values)

    def can(permission: str) -> bool:
        return principal is not None and principal.can(permission)

    nav = [
        item
        for item in NAV
        if item.permission is None or (principal is not None and principal.can(item.permission))
    ]
    page = templates.get_template(template).render(
        {
            "request": request,
            "path": request.url.path,
            "lang": lang,
            "t": t,
            "can": can,
            "jst": lambda value: jst(value, lang),
            "reason_text": lambda reason: reason_text(reason, lang),
            "principal": principal,
            "csrf": csrf_token(request),
            "nav": nav,
            "idempotency_key": uuid.uuid4().hex,
            **(context or {}),
        }
    )
    response = HTMLResponse(page, status_code=status_code, headers=headers)
    response.headers["Cache-Control"] = "no-store"
    return response


def message(request: Request, level: str, text: str, **extra: str | None) -> HTMLResponse:
    """A message for the page's message area (htmx puts the answer there); ``extra``: the
    ``detail``, ``secret`` or ``next_link`` of ``_message.html``."""
    return render(
        request,
        "_message.html",
        {"level": level, "text": text, **extra},
        headers={"HX-Retarget": "#messages", "HX-Reswap": "innerHTML"},
    )


def go(request: Request, text: str, target: str) -> HTMLResponse:
    """Go to ``target`` (htmx follows HX-Redirect); the body says what was done, with a link.
    A replay of the same Idempotency-Key answers the same: the stored answer keeps the HX-
    headers."""
    response = message(request, "info", text, next_link=target)
    response.headers["HX-Redirect"] = target
    return response


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


async def form_data(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body (what htmx and the forms send) as a dict."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    parsed = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {key: values[-1] for key, values in parsed.items()}


@dataclass(frozen=True)
class Posted:
    """A console form's request, its fields as posted (``form_data``) and the reader's
    language."""

    request: Request
    form: dict[str, str]
    lang: str

    def choice(self, field: str, choices: tuple[str, ...]) -> str:
        """The form's ``field``, one of ``choices`` (else a bad-request problem)."""
        value = self.form.get(field, "")
        if value not in choices:
            raise ProblemError("bad-request", f"{field} must be {' or '.join(choices)}")
        return value


async def posted(request: Request) -> Posted:
    return Posted(request, await form_data(request), lang_of(request))


PostedForm = Annotated[Posted, Depends(posted)]


def query_string(values: dict[str, Any]) -> str:
    return urlencode({k: v for k, v in values.items() if v not in (None, "")})
