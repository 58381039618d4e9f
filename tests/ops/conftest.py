"""Shared fixtures for the deployment tests: the Helm chart rendered offline.

The chart is rendered with helm-python-sdk, which bundles Helm's Go SDK as a native library
inside its wheel (helm_python/lib/libhelm_c.so): no helm binary, no download, no cluster.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "mdm-hub"
RELEASE = "mdm"
NAMESPACE = "mdm-hub"


def load_values(name: str) -> dict[str, Any]:
    return yaml.safe_load((CHART / "ci" / f"{name}-values.yaml").read_text(encoding="utf-8"))


def deep_merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


# Every optional switch the production file leaves off, turned on; secrets as chart values
# (not existingSecret), so the chart-made Secrets and the migration hook's Secret render.
ALL_OPTIONS_OVERLAY: dict[str, Any] = {
    "database": {
        "url": "postgresql://mdm_hub@mdm-db-rw.databases.svc:5432/mdm_hub?sslmode=require",
        "existingSecret": {"name": ""},
    },
    "secrets": {
        "existingSecret": "",
        "oidcClientSecret": "placeholder",
        "fieldEncryptionKey": "placeholder",
    },
    "serviceAccount": {"annotations": {"example.com/role": "mdm-hub"}},
    "api": {
        "autoscaling": {"targetMemoryUtilizationPercentage": 80},
        "topologySpreadConstraints": [],
        "extraEnv": [{"name": "MDM_MAX_PAGE_SIZE", "value": "200"}],
    },
    "worker": {
        "http": {"enabled": True, "port": 9000},
        "registryFolders": {"enabled": True, "existingClaim": "nta-downloads"},
    },
    "networkPolicy": {
        "egress": {
            "extraRules": [{"ports": [{"port": 8443, "protocol": "TCP"}]}],
        }
    },
    "commonLabels": {"cost-center": "crm-platform"},
    "registryImport": {"enabled": True, "existingClaim": "nta-downloads"},
    "backup": {"enabled": True, "existingClaim": "mdm-hub-backups"},
}

VALUE_SETS: dict[str, dict[str, Any]] = {
    "minimal": load_values("minimal"),
    "production": load_values("production"),
    "all-options": deep_merge(load_values("production"), ALL_OPTIONS_OVERLAY),
}


def render(values: dict[str, Any] | None, **options: Any) -> dict[str, str]:
    """Template path → rendered text, as `helm install --dry-run` would produce it."""
    options.setdefault("is_install", True)
    with helm.Chart.load(CHART) as chart:
        return chart.render(values, name=RELEASE, namespace=NAMESPACE, **options)


def manifests(rendered: dict[str, str]) -> list[dict[str, Any]]:
    """Every Kubernetes object of a render (NOTES.txt left out)."""
    objects: list[dict[str, Any]] = []
    for path, text in sorted(rendered.items()):
        if path.endswith("NOTES.txt"):
            continue
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objects


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    for obj in objects:
        if obj["kind"] == kind and obj["metadata"]["name"] == name:
            return obj
    raise AssertionError(
        f"no {kind} {name} in {[(o['kind'], o['metadata']['name']) for o in objects]}"
    )


@pytest.fixture(scope="session")
def rendered() -> dict[str, dict[str, str]]:
    """Each value set, rendered once per session."""
    return {name: render(values) for name, values in VALUE_SETS.items()}


@pytest.fixture(scope="session")
def objects(rendered: dict[str, dict[str, str]]) -> dict[str, list[dict[str, Any]]]:
    return {name: manifests(text) for name, text in rendered.items()}


def uv_executable() -> str:
    """The project's pinned uv (Makefile bootstrap), else one on PATH."""
    pinned = ROOT / ".tools" / "bin" / "uv"
    if pinned.exists():
        return str(pinned)
    found = shutil.which("uv")
    if found is None:
        pytest.fail("uv not found: run `make install` first (it bootstraps .tools/bin/uv)")
    return found


@pytest.fixture(scope="session")
def uv() -> Iterator[str]:
    yield uv_executable()
