"""Fault injection for the reliability tests: make one site of the pipeline fail once, on purpose.

Set ``DLTRIGGER_FAIL_ONCE=<site>:<marker directory>``; the first call of ``fail_once(site, key)`` for each
key creates a marker and raises, later calls (retries) pass. Unset, it does nothing. Spark executors
inherit the variable in local mode.
"""

from __future__ import annotations

import os

ENV = "DLTRIGGER_FAIL_ONCE"


class InjectedFault(RuntimeError):
    pass


def fail_once(site: str, key: str) -> None:
    setting = os.environ.get(ENV, "")
    if not setting.startswith(f"{site}:"):
        return
    marker = os.path.join(setting.split(":", 1)[1], f"{site}-{key}".replace(os.sep, "_"))
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return
    raise InjectedFault(f"injected fault at {site} ({key})")
