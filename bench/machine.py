"""What the benchmarks print about the machine they ran on, and the environment they share."""

from __future__ import annotations

import base64
import os
import platform
import sys
from pathlib import Path

# The hub refuses to start without a field encryption key. Benchmarks write throwaway
# databases, so they share one fixed key (a database kept with --database-url starts again
# with it); set MDM_FIELD_ENCRYPTION_KEY to use another.
BENCH_FIELD_ENCRYPTION_KEY = base64.urlsafe_b64encode(
    b"mdm-hub benchmarks only: no data!"[:32]
).decode()
os.environ.setdefault("MDM_FIELD_ENCRYPTION_KEY", BENCH_FIELD_ENCRYPTION_KEY)


def machine() -> dict[str, str]:
    """CPU count and model, Python version and load average, for the figures' header line."""
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "python": platform.python_version(),
        "load": "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg()),
    }


def print_header() -> None:
    """The machine and the command line, the first two lines of a benchmark's output."""
    info = machine()
    print(
        f"machine: nproc={info['nproc']} cpu={info['cpu']!r} python={info['python']} "
        f"load={info['load']}"
    )
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")


def _ticks(pid: int, children: bool) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime, stime (and cutime, cstime: the children it waited for) in clock ticks
    return sum(int(f) for f in fields[11 : 15 if children else 13])


def postgres_cpu(pg_data: Path | None) -> float:
    """CPU seconds of the PostgreSQL whose data folder is ``pg_data`` so far: the postmaster
    with its exited children, and its live children (nan without a folder)."""
    if pg_data is None:
        return float("nan")
    postmaster = int((pg_data / "postmaster.pid").read_text().split()[0])
    total = _ticks(postmaster, children=True)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parts = stat.read_text().rsplit(")", 1)[1].split()
            if int(parts[1]) == postmaster:
                total += _ticks(int(stat.parent.name), children=False)
        except (OSError, ValueError):
            continue
    return total / os.sysconf("SC_CLK_TCK")
