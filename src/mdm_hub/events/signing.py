"""Standard Webhooks: secrets, message bodies, signatures, and one HTTP attempt.

Signatures are made with the `standardwebhooks` package (``Webhook.sign``), the same code a
receiver uses to verify them. During a secret rotation's overlap the ``webhook-signature``
header carries one ``v1,<base64>`` signature per valid secret, separated by spaces; a receiver
that knows either secret accepts the message.
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import json
import secrets as secrets_module
import ssl
import time
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
from standardwebhooks.webhooks import Webhook

from mdm_hub.settings import Settings

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
ERROR_EXCERPT_BYTES = 512
USER_AGENT = "mdm-hub-webhooks/1"
THROTTLE_STATUSES = frozenset({429, 502, 503, 504})


def new_secret() -> str:
    """A ``whsec_`` secret: base64 of 32 random bytes (Standard Webhooks: 24–64 bytes)."""
    return SECRET_PREFIX + base64.b64encode(secrets_module.token_bytes(SECRET_BYTES)).decode()


def dumps(payload: dict[str, Any]) -> str:
    """The exact body that is signed and sent: compact JSON, UTF-8 (日本語 is not escaped)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def rfc3339(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


class EventHead(Protocol):
    """What an event's payload says besides its changed fields and customer: a stored event's
    row (its ``type`` read as ``event_type``) or any object with these attributes."""

    @property
    def event_type(self) -> str: ...
    @property
    def occurred_at(self) -> dt.datetime: ...
    @property
    def event_id(self) -> Any: ...
    @property
    def customer_id(self) -> Any: ...
    @property
    def customer_version(self) -> int: ...


def event_payload(
    head: EventHead, changed_fields: list[str], customer: dict[str, Any]
) -> dict[str, Any]:
    """The Standard Webhooks payload of a customer event (also one item of the change feed)."""
    return {
        "type": head.event_type,
        "timestamp": rfc3339(head.occurred_at),
        "data": {
            "event_id": str(head.event_id),
            "customer_id": str(head.customer_id),
            "customer_version": head.customer_version,
            "changed_fields": changed_fields,
            "customer": customer,
        },
    }


def event_body(head: EventHead, changed_fields_json: str, customer_json: str) -> str:
    """:func:`event_payload` as the JSON text that is sent, built around the stored JSON texts
    of the changed fields and the customer (no decoding and encoding again per delivery)."""
    head_json = dumps({"type": head.event_type, "timestamp": rfc3339(head.occurred_at)})
    data = dumps(
        {
            "event_id": str(head.event_id),
            "customer_id": str(head.customer_id),
            "customer_version": head.customer_version,
        }
    )
    return (
        f'{head_json[:-1]},"data":{data[:-1]},"changed_fields":{changed_fields_json},'
        f'"customer":{customer_json}}}}}'
    )


def ping_payload(endpoint_id: Any, now: dt.datetime) -> dict[str, Any]:
    return {
        "type": "webhook.test",
        "timestamp": rfc3339(now),
        "data": {"endpoint_id": str(endpoint_id), "message": "ping from mdm-hub"},
    }


def signature_header(secrets: list[str], msg_id: str, timestamp: dt.datetime, body: str) -> str:
    """``v1,<sig>`` for each secret, space-separated (the newest secret first)."""
    utc = timestamp.astimezone(dt.UTC)
    return " ".join(Webhook(s).sign(msg_id, utc, body) for s in secrets)


def signed_headers(
    secrets: list[str], msg_id: str, body: str, now: dt.datetime | None = None
) -> dict[str, str]:
    now = now or dt.datetime.now(dt.UTC)
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature_header(secrets, msg_id, now, body),
    }


def active_secrets(
    secret: str,
    previous_secret: str | None,
    previous_expires_at: dt.datetime | None,
    now: dt.datetime | None = None,
) -> list[str]:
    """The secrets that sign now: the current one, and the previous one during the overlap."""
    now = now or dt.datetime.now(dt.UTC)
    if previous_secret and previous_expires_at is not None and previous_expires_at > now:
        return [secret, previous_secret]
    return [secret]


@dataclass(frozen=True)
class AttemptResult:
    """What one HTTP attempt came to."""

    attempted_at: dt.datetime
    response_status: int | None
    latency_ms: int
    error: str | None
    retry_after: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.response_status is not None and 200 <= self.response_status < 300

    @property
    def gone(self) -> bool:
        return self.response_status == 410


def parse_retry_after(value: str | None, now: dt.datetime) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - now).total_seconds())


def _ssl_context() -> ssl.SSLContext:
    """The system's CA certificates; certifi's (as httpx uses) where the system has none."""
    context = ssl.create_default_context()
    if not context.cert_store_stats().get("x509_ca"):
        import certifi

        context = ssl.create_default_context(cafile=certifi.where())
    return context


class Sender:
    """Sends signed messages over HTTP/1.1 with keep-alive, timeouts, and no redirects.

    aiohttp rather than httpx: measured on this project's 2-core machine, httpx spends about
    1 ms of CPU per request (its models, anyio, a pool that scans every connection on each
    request), five times what aiohttp (C parser) needs; at 1,000 deliveries/s that is the whole
    difference between meeting the goal and not (docs/benchmarks.md, "Webhooks").
    """

    def __init__(self, settings: Settings, concurrency: int = 1) -> None:
        self.total_timeout = settings.webhook_timeout_seconds
        self._timeout = aiohttp.ClientTimeout(
            total=settings.webhook_timeout_seconds,
            connect=settings.webhook_connect_timeout_seconds,
        )
        self._limit = max(1, concurrency)
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:  # needs the running event loop
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self._limit, ssl=_ssl_context(), keepalive_timeout=30
                ),
                timeout=self._timeout,
                trust_env=False,
                auto_decompress=False,
                skip_auto_headers=("Accept-Encoding",),
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> Sender:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def post(self, url: str, secrets: list[str], msg_id: str, body: str) -> AttemptResult:
        """POST one signed message; never raises for the receiver's failures."""
        session = self._open()
        now = dt.datetime.now(dt.UTC)
        headers = signed_headers(secrets, msg_id, body, now)
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        retry_after: float | None = None
        try:
            async with session.post(
                url, data=body.encode(), headers=headers, allow_redirects=False
            ) as response:
                status = response.status
                # Read (a little of) the body: a fully read answer keeps the connection alive.
                excerpt = await response.content.read(ERROR_EXCERPT_BYTES)
                if not 200 <= status < 300:
                    text = excerpt.decode("utf-8", "replace").strip()
                    error = f"HTTP {status}" + (f": {text}" if text else "")
                    if status in THROTTLE_STATUSES:
                        value = response.headers.get("Retry-After")
                        retry_after = parse_retry_after(value, now)
        except TimeoutError as exc:
            error = f"timeout ({type(exc).__name__}, limit {self.total_timeout:g}s)"
        except Exception as exc:  # connection refused, TLS, protocol errors, a bad URL, ...
            error = f"{type(exc).__name__}: {exc}"[:ERROR_EXCERPT_BYTES]
        latency_ms = int((time.perf_counter() - started) * 1000)
        return AttemptResult(now, status, latency_ms, error, retry_after)
