"""`mdm-hub serve` as a new user runs it: embedded PostgreSQL, data kept across restarts."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.helpers import corporation


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    # No MDM_FIELD_ENCRYPTION_KEY either: serve on loopback makes one in the data folder.
    dropped = ("DATABASE_URL", "MDM_DATABASE_URL", "MDM_FIELD_ENCRYPTION_KEY")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env["MDM_DATA_DIR"] = str(data_dir)
    return subprocess.Popen(
        [sys.executable, "-m", "mdm_hub.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


# A deadline, not a timing: a new data folder is initialized, then restarted with the embedded
# cluster's settings, and on a loaded machine Python's imports alone took 80 s (load 22).
def _wait_ready(process: subprocess.Popen[bytes], base: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            raise AssertionError(f"serve exited with {process.returncode}:\n{output}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("serve did not become ready")


def admin_headers(data_dir: Path) -> dict[str, str]:
    """The development issuer's administrator token, as `mdm-hub serve` wrote it."""
    token = (data_dir / "admin-token").read_text().strip()
    return {"Authorization": f"Bearer {token}"}


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        assert process.wait(timeout=120) == 0  # a deadline: a stop took over 30 s at load 15
    finally:
        if process.poll() is None:
            process.kill()


def test_serve_with_embedded_database_keeps_data(tmp_path: Path) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    data_dir = tmp_path / "data"

    process = _start(data_dir, port)
    try:
        _wait_ready(process, base)
        assert httpx.get(f"{base}/docs").status_code == 200
        anonymous = httpx.put(f"{base}/v1/sources/crm/records/1", json=corporation(), timeout=10)
        assert anonymous.status_code == 401, "auth is on with no IdP configured"
        headers = admin_headers(data_dir)
        created = httpx.put(
            f"{base}/v1/sources/crm/records/1", json=corporation(), headers=headers, timeout=10
        )
        assert created.status_code == 201, created.text
        customer_id = created.json()["customer"]["id"]
        key_file = data_dir / "field-encryption-key"
        assert key_file.stat().st_mode & 0o777 == 0o600
        key = key_file.read_text()
    finally:
        _stop(process)

    process = _start(data_dir, port)
    try:
        _wait_ready(process, base)
        # A restart mints a new token with the same key (kept in the data folder).
        again = httpx.get(
            f"{base}/v1/customers/{customer_id}", headers=admin_headers(data_dir), timeout=10
        )
        assert again.status_code == 200
        assert again.json()["name"] == "株式会社ABC商事"
        assert key_file.read_text() == key, "the restart kept the key it had made"
    finally:
        _stop(process)


def test_serve_refuses_a_public_address_without_an_issuer(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDM_") and k != "DATABASE_URL"}
    env["MDM_DATA_DIR"] = str(tmp_path / "data")
    result = subprocess.run(
        [sys.executable, "-m", "mdm_hub.cli", "serve", "--host", "0.0.0.0", "--port", "1"],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert b"development issuer serves on a loopback address only" in result.stderr
    assert not (tmp_path / "data").exists(), "refused before starting anything"


def _postgres_pids(pgdata: Path) -> list[int]:
    """Processes of a PostgreSQL server on this data folder (its postmaster and children)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if stat[0] != "Z" and str(pgdata).encode() in cmdline and b"postgres" in cmdline[0]:
            found.append(int(entry.name))
    return found


def test_a_clean_stop_after_a_crash_stops_the_embedded_database(tmp_path: Path) -> None:
    """kill -9 of serve left its pid attached: every later clean stop left PostgreSQL running."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    data_dir = tmp_path / "data"
    pgdata = (data_dir / "pg").resolve()
    crashed = _start(data_dir, port)
    try:
        _wait_ready(crashed, base, timeout=300)
        assert _postgres_pids(pgdata)
    finally:
        crashed.kill()  # SIGKILL: no atexit, the embedded server stays up
        crashed.wait(timeout=30)
    assert _postgres_pids(pgdata), "the crash should leave the server running (the setup)"
    for sig in (signal.SIGTERM, signal.SIGINT):
        process = _start(data_dir, port)
        try:
            _wait_ready(process, base, timeout=300)
        finally:
            process.send_signal(sig)
            try:
                assert process.wait(timeout=60) == 0
            finally:
                if process.poll() is None:
                    process.kill()
        deadline = time.monotonic() + 10
        while _postgres_pids(pgdata) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _postgres_pids(pgdata) == [], f"PostgreSQL left running after {sig.name}"
