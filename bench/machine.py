"""The machine a benchmark ran on, printed beside its numbers: the CPU model as lscpu names it, and the cores."""

from __future__ import annotations

import os
import platform
import subprocess


def cpu_model() -> str:
    """The CPU's model name as lscpu gives it, and the cores this process may use."""
    try:
        lines = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines()
        name = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        name = platform.processor() or "unknown"
    return f"{name}, {len(os.sched_getaffinity(0))} cores"
