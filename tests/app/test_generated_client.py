"""An integrating team's first step: generate a Python client from openapi/openapi.json with
openapi-python-client (no warning) and use it against a live hub (issue 14, item 9)."""

from __future__ import annotations

import importlib
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from mdm_hub.auth.dev_issuer import DevIssuer
from tests.helpers import corporation

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = Path(sys.executable).parent / "openapi-python-client"


def test_a_generated_client_writes_reads_follows_the_feed_and_decides(
    live_hub: str, test_issuer: DevIssuer, tmp_path: Path
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("post_hooks: []\n")  # no formatter run: ruff is the project's, not PATH's
    package = tmp_path / "mdm_hub_client"
    generated = subprocess.run(
        [
            str(GENERATOR),
            "generate",
            "--path",
            str(ROOT / "openapi" / "openapi.json"),
            "--output-path",
            str(package),
            "--meta",
            "none",
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = generated.stdout + generated.stderr
    assert generated.returncode == 0, output
    assert "warning" not in output.lower(), output
    sys.path.insert(0, str(tmp_path))
    try:
        _use(live_hub, test_issuer)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m.split(".")[0] == "mdm_hub_client"]:
            del sys.modules[name]


def _use(live_hub: str, test_issuer: DevIssuer) -> None:
    def load(name: str) -> Any:
        return importlib.import_module(f"mdm_hub_client.{name}")

    client_module = load("client")
    put_source_record = load("api.sources.put_source_record")
    get_customer = load("api.customers.get_customer")
    list_changes = load("api.changes.list_changes")
    list_match_candidates = load("api.matching.list_match_candidates")
    decide_match_candidate = load("api.matching.decide_match_candidate")
    models = load("models")

    token = test_issuer.mint(
        subject="integration", roles=["administrator"], scopes=[], client_id="generated"
    )
    with client_module.AuthenticatedClient(base_url=live_hub, token=token) as client:
        written = put_source_record.sync_detailed(
            "crm", "GEN-1", client=client, body=models.CustomerIn.from_dict(corporation())
        )
        assert written.status_code == 201, written.content
        result = written.parsed
        assert isinstance(result, models.SourceWriteResult)
        customer_id = result.customer.id
        assert isinstance(customer_id, uuid.UUID)

        customer = get_customer.sync(customer_id, client=client)
        assert isinstance(customer, models.CustomerOut)
        assert customer.customer_code == result.customer.customer_code

        page = list_changes.sync(client=client)
        assert isinstance(page, models.ChangePage)
        assert page.items and isinstance(page.items[0], models.Change)
        assert page.items[0].data.customer_id == customer_id

        # Same name and postal code, nothing else: a review candidate for a steward.
        unsure = corporation(
            corporate_number=None, phones=[], emails=[], addresses=[{"postal_code": "100-0005"}]
        )
        queued = put_source_record.sync(
            "sfa", "GEN-2", client=client, body=models.CustomerIn.from_dict(unsure)
        )
        assert isinstance(queued, models.SourceWriteResult)
        assert queued.decision.outcome.value == "review"
        candidates = list_match_candidates.sync(client=client)
        assert isinstance(candidates, models.MatchCandidatePage) and candidates.items
        decided = decide_match_candidate.sync(
            candidates.items[0].id,
            client=client,
            body=models.CandidateDecision.from_dict({"decision": "distinct"}),
        )
        assert isinstance(decided, models.MatchCandidateOut)
        assert decided.status.value == "distinct"
