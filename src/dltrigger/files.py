"""Output files that appear only when complete (a killed or failing job leaves no partial file)."""

from __future__ import annotations

import contextlib
import glob
import json
import os


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path next to ``path``; rename it to ``path`` if the block succeeds, else delete it.

    Leftovers of a writer that was killed (SIGKILL skips the cleanup) are removed on the next attempt.
    """
    path = os.fspath(path)
    for stale in glob.glob(f"{glob.escape(path)}.partial-*"):
        os.remove(stale)
    temporary = f"{path}.partial-{os.getpid()}"
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def write_json(path: str | os.PathLike, payload) -> None:
    with atomic_path(path) as temporary, open(temporary, "w") as handle:
        json.dump(payload, handle, indent=2, sort_keys=True)
        handle.write("\n")
