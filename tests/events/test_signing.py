"""Pure parts: message bodies, signatures, Retry-After, the retry schedule."""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from mdm_hub.events.dispatcher import Claim, decide, retry_delay
from mdm_hub.events.signing import (
    AttemptResult,
    active_secrets,
    event_body,
    event_payload,
    new_secret,
    parse_retry_after,
    signed_headers,
)
from mdm_hub.settings import Settings

NOW = dt.datetime(2026, 11, 24, 1, 2, 3, tzinfo=dt.UTC)


def test_event_body_is_the_payload_as_sent() -> None:
    head = SimpleNamespace(
        event_type="customer.updated",
        occurred_at=NOW,
        event_id="5f1c0c1e-3a55-4f77-9a43-2f0d3f4c9b10",
        customer_id="0b7e3c2a-9a7d-4c3e-8d7e-6a1d2b3c4d5e",
        customer_version=3,
    )
    customer = {"name": "株式会社ABC商事", "billing": {"closing_day": "end_of_month"}}
    body = event_body(head, '["/billing/closing_day"]', json.dumps(customer, ensure_ascii=False))
    payload = event_payload(head, ["/billing/closing_day"], customer)
    assert json.loads(body) == payload
    assert payload["timestamp"] == "2026-11-24T01:02:03Z"
    assert "株式会社" in body  # UTF-8, not \\u escapes


def test_signatures_verify_with_the_standard_library() -> None:
    old, new = new_secret(), new_secret()
    body = '{"type":"customer.created"}'
    headers = signed_headers([new, old], "msg_1", body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        assert Webhook(secret).verify(body, headers) == {"type": "customer.created"}
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(body + " ", headers)


def test_previous_secret_signs_only_during_the_overlap() -> None:
    assert active_secrets("a", "b", NOW + dt.timedelta(seconds=1), NOW) == ["a", "b"]
    assert active_secrets("a", "b", NOW, NOW) == ["a"]
    assert active_secrets("a", None, None, NOW) == ["a"]


def test_retry_after_seconds_and_dates() -> None:
    assert parse_retry_after("120", NOW) == 120
    assert parse_retry_after("Tue, 24 Nov 2026 01:03:03 GMT", NOW) == 60
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None


def _result(status: int | None, retry_after: float | None = None) -> AttemptResult:
    return AttemptResult(NOW, status, 5, None if status == 200 else "x", retry_after)


def test_schedule_jitter_throttling_and_dead_letter() -> None:
    settings = Settings(database_url=None, webhook_retry_jitter=0.2)
    schedule = settings.webhook_retry_schedule_seconds
    assert schedule == [0, 5, 300, 1800, 7200, 18000, 36000, 36000]  # Standard Webhooks
    for made in range(1, len(schedule)):
        delay = retry_delay(settings, made, _result(500))
        assert delay is not None
        assert schedule[made] * 0.8 <= delay <= schedule[made] * 1.2
    assert retry_delay(settings, len(schedule), _result(500)) is None
    # 429/502/503/504: Retry-After is honoured (capped); other statuses ignore it.
    assert retry_delay(settings, 1, _result(429, 3600)) == 3600
    assert retry_delay(settings, 1, _result(503, 10**9)) == settings.webhook_retry_after_max_seconds
    assert retry_delay(settings, 1, _result(500, 3600)) <= 6  # type: ignore[operator]

    claim = Claim(endpoint_id=None, customer_id=None, token=None, delivery_id=1, attempts=0)  # type: ignore[arg-type]
    assert (
        decide(settings, claim, _result(200)).status,
        decide(settings, claim, _result(200)).outcome,
    ) == ("delivered", "delivered")
    assert decide(settings, claim, _result(410)).outcome == "disabled"
    assert decide(settings, claim, _result(500)).outcome == "retrying"
    claim.attempts = len(schedule) - 1
    last = decide(settings, claim, _result(None))
    assert (last.status, last.outcome) == ("dead", "dead")
