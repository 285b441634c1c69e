"""Raw inputs: local paths and globs, and remote URLs (XRootD ``root://``, HTTP) read by uproot itself.

Remote files are read inside the Spark tasks through uproot's XRootD source (the ``xrootd`` client and
``fsspec-xrootd``), not staged by a Snakemake storage plugin: each task fetches only the baskets of the
branches and entry range it needs, on whichever executor runs it, as with EOS at CERN. Opening a remote
file is retried a bounded number of times (``ingest.remote``); the XRootD client's own reconnection loop
(by default up to 5 tries over 2 minutes each) is cut down to one try per attempt, so an unreachable
server fails after about ``attempts × timeout_s`` seconds at most.
"""

from __future__ import annotations

import functools
import glob
import logging
import os
import re
import time

import uproot

log = logging.getLogger(__name__)

REMOTE_PREFIXES = ("root://", "xroot://", "https://", "http://")
DEFAULT_REMOTE = {"attempts": 3, "wait_s": 2.0, "timeout_s": 30}
NOT_FOUND = "[3011]"  # XRootD's kXR_NotFound: final, not worth another attempt


def is_remote(path: str) -> bool:
    return str(path).startswith(REMOTE_PREFIXES)


def local_files(source: str) -> list[str]:
    """Existing files matching a local path or glob (relative to the working directory, as in Snakemake)."""
    return sorted(path for path in glob.glob(os.path.expanduser(source)) if os.path.isfile(path))


def expand_source(source: str, remote: dict | None = None) -> list[str]:
    """The files of a sample-sheet source: a local path or glob, or a remote URL, whose glob (``*.root``
    in the path of a ``root://`` URL) is listed on the server. Raises FileNotFoundError naming the source
    when nothing matches."""
    if not is_remote(source):
        files = local_files(source)
    elif not glob.has_magic(source.split("://", 1)[1]):
        return [source]
    else:
        import fsspec

        _configure_xrootd(**_remote(remote))
        filesystem, pattern = fsspec.core.url_to_fs(source)
        files = sorted(filesystem.unstrip_protocol(path) for path in filesystem.glob(pattern))
    if not files:
        raise FileNotFoundError(f"source '{source}' matches no file")
    return files


def open_root(path, remote: dict | None = None):
    """``uproot.open`` for a local path or a file object (a streamed file's bytes); for a URL, up to
    ``attempts`` tries ``wait_s × n`` seconds apart, then an OSError that says how many tries failed and
    the last reason."""
    if hasattr(path, "read") or not is_remote(path):
        return uproot.open(path)
    settings = _remote(remote)
    _configure_xrootd(**settings)
    for attempt in range(1, settings["attempts"] + 1):
        try:
            return uproot.open(path, timeout=settings["timeout_s"])
        except Exception as exc:  # the XRootD and HTTP sources raise several types
            reason = _reason(exc)
            if NOT_FOUND in reason:
                raise FileNotFoundError(f"no such file on the server ({reason})") from None
            if attempt == settings["attempts"]:
                raise OSError(f"cannot be opened after {attempt} attempt{'s' * (attempt > 1)} ({reason})") from None
            log.warning("%s: attempt %d of %d failed (%s); retrying", path, attempt, settings["attempts"], reason)
            time.sleep(settings["wait_s"] * attempt)


def _reason(exc: Exception) -> str:
    """One line: the exception without the object reprs (``<bound method File.open of <...>>``) of the
    XRootD bindings' messages."""
    text = f"{type(exc).__name__}: {exc}"
    while re.search(r"<[^<>]*>", text):
        text = re.sub(r"<[^<>]*>", "", text)
    return " ".join(text.split())


def _remote(remote: dict | None) -> dict:
    return {**DEFAULT_REMOTE, **(remote or {})}


@functools.cache
def _configure_xrootd(attempts: int, wait_s: float, timeout_s: int) -> None:
    """One connection try per attempt, with the attempt's timeout (once per process, before first use)."""
    try:
        from XRootD import client
    except ImportError:  # HTTP-only use needs no XRootD client
        return
    client.EnvPutInt("ConnectionRetry", 1)
    client.EnvPutInt("ConnectionWindow", int(timeout_s))
    client.EnvPutInt("RequestTimeout", int(timeout_s))
