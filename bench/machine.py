"""What the benchmarks print about the machine they ran on."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path


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
