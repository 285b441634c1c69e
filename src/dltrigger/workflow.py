"""Helpers for the thin Snakemake adapters in ``scripts/``: route every output of a job into its log."""

from __future__ import annotations

import contextlib
import logging
import os
import sys


@contextlib.contextmanager
def job_log(path: str | os.PathLike):
    """Send this process's stdout/stderr (Python, and C++ libraries such as Pythia and fastjet) and
    INFO-level logging to ``path``, the rule's ``log:`` file, for the duration of the block."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "a", buffering=1) as handle:
        os.dup2(handle.fileno(), 1)
        os.dup2(handle.fileno(), 2)
        logging.basicConfig(
            stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
        )
        try:
            yield
        except Exception:
            logging.getLogger("dltrigger").exception("job failed")
            raise
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
