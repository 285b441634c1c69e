"""The machine a benchmark ran on, printed beside its numbers: the CPU as lscpu names it (machines of our
kind share a name but not their speed: family, model and the widest vector unit tell them apart), and
the cores."""

from __future__ import annotations

import os
import platform
import subprocess


def cpu_model() -> str:
    """The CPU's model name, family and model as lscpu gives them, its widest AVX, and the usable cores."""
    try:
        lines = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        lines = []
    fields = {key.strip(): value.strip() for key, _, value in (line.partition(":") for line in lines)}
    name = fields.get("Model name") or platform.processor() or "unknown"
    flags = fields.get("Flags", "").split()
    vector = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return f"{name} (family {fields.get('CPU family', '?')}, model {fields.get('Model', '?')}, {vector}), {len(os.sched_getaffinity(0))} cores"
