"""mdm_hub.observability.statements counts what a request sends, whichever way it goes: the
ORM's and Core's statements (SQLAlchemy's cursor events) and those sent to asyncpg directly
(BEGIN, COMMIT, ``db.fetch`` and ``db.write_named`` on the write path)."""

from __future__ import annotations

import httpx

from mdm_hub.app import create_app
from mdm_hub.auth.dev_issuer import DevIssuer
from mdm_hub.observability.statements import counted_statements
from mdm_hub.settings import Settings
from tests.conftest import auth_headers
from tests.helpers import corporation


async def test_a_put_is_counted_at_the_connection(
    database_url: str, test_issuer: DevIssuer
) -> None:
    # An app of its own whose data keys are not reloaded meanwhile: the counter counts every
    # statement on the engine, and a reload (BEGIN, SELECT, COMMIT) would count with the PUT's.
    settings = Settings(database_url=database_url, field_key_refresh_seconds=3600)
    app = create_app(settings, dev_issuer=test_issuer)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://hub.test",
            headers=auth_headers(test_issuer),
        ) as client,
    ):
        with counted_statements(app.state.engine) as seen:
            response = await client.put("/v1/sources/crm/records/COUNT-1", json=corporation())
        assert response.status_code == 201, response.text
        assert seen["COMMIT;"] == 1, seen  # asyncpg's own (the query logger)
        assert sum(n for s, n in seen.items() if "INSERT INTO source_records" in s) == 1, seen
        assert all(len(s) <= 70 for s in seen)
        total = sum(seen.values())

        # Nothing is counted after the block, and a narrower width folds statements together.
        await client.put("/v1/sources/crm/records/COUNT-2", json=corporation(name="株式会社別"))
        assert sum(seen.values()) == total
        with counted_statements(app.state.engine, width=6) as short:
            response = await client.get("/v1/sources/crm/records/COUNT-1")  # the ORM's reads
        assert response.status_code == 200, response.text
        assert short["SELECT"] >= 1 and all(len(s) <= 6 for s in short), short
