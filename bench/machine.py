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
