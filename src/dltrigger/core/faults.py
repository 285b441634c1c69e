"""Fault injection for the reliability tests: make one site of the pipeline fail once, on purpose.

``DLTRIGGER_FAIL_ONCE=<site>:<marker directory>``: the first call of ``fail_once(site, key)`` for each key
creates a marker and raises, later calls (retries) pass. ``DLTRIGGER_KILL_ONCE=<site>:<marker directory>``:
the first call of ``interrupt_once(site)`` SIGKILLs its own process, as a crash or the OOM killer would (no
cleanup runs); ``DLTRIGGER_PAUSE_ONCE=<site>:<marker directory>``: there the first call waits instead (an
hour at most), its marker telling a test that the process stands at ``site``, for it to be killed from
outside (e.g. cancelled by the scheduler). ``DLTRIGGER_PERTURB_ONCE=<site>:<marker directory>``: the first call of
``perturb_once(site)`` is true, and the caller shifts one weight of what it wrote, as a faulty exporter would.
Unset, they do nothing. Spark executors and the processes they start inherit the variables
in local mode.
"""

from __future__ import annotations

import os
import signal
import time

ENV = "DLTRIGGER_FAIL_ONCE"
KILL_ENV = "DLTRIGGER_KILL_ONCE"
PERTURB_ENV = "DLTRIGGER_PERTURB_ONCE"
PAUSE_ENV = "DLTRIGGER_PAUSE_ONCE"
PAUSE_SECONDS = 3600


class InjectedFault(RuntimeError):
    pass


def _first_time(variable: str, site: str, key: str) -> bool:
    """Whether ``variable`` selects ``site`` and this is the first call for ``key`` (a marker file records it)."""
    setting = os.environ.get(variable, "")
    if not setting.startswith(f"{site}:"):
        return False
    marker = os.path.join(setting.split(":", 1)[1], f"{site}-{key}".replace(os.sep, "_"))
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def fail_once(site: str, key: str) -> None:
    if _first_time(ENV, site, key):
        raise InjectedFault(f"injected fault at {site} ({key})")


def interrupt_once(site: str) -> None:
    if _first_time(KILL_ENV, site, "killed"):
        os.kill(os.getpid(), signal.SIGKILL)
    if _first_time(PAUSE_ENV, site, "paused"):
        time.sleep(PAUSE_SECONDS)


def perturb_once(site: str) -> bool:
    """Whether to perturb the output at ``site`` now (the caller shifts it: the fault is the caller's format)."""
    return _first_time(PERTURB_ENV, site, "perturbed")
