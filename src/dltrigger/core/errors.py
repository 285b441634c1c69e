"""Errors of the user's making: each message names the file or key and is shown as one line."""

from __future__ import annotations

import errno
import os


class InputError(ValueError):
    """A problem with an input file; the message names the file and is shown as one line."""


class ConfigError(ValueError):
    """A config or sample-sheet problem; its message is the single line shown to the user."""


# Errors of the storage, not of the code: each is reported as one line naming the path.
STORAGE_ERRORS = (errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EACCES)


def user_message(exc: BaseException) -> str | None:
    """The one-line message of an error caused by the inputs, the config or the storage (which a user
    fixes), or None for anything else (a bug, reported with its traceback)."""
    if isinstance(exc, (InputError, ConfigError, TimeoutError)):
        return " ".join(str(exc).split())
    if isinstance(exc, OSError) and exc.errno in STORAGE_ERRORS:
        return f"cannot write {exc.filename or 'an output'}: {exc.strerror}"
    return None


def leave_error_line(directory: str, exc: BaseException) -> None:
    """Write ``exc`` as one line into ``directory``, for the parent process that started this one (Spark
    and torchrun report only that a process failed; ``first_error_line`` reads it back)."""
    with open(os.path.join(directory, f"error-{os.getpid()}.txt"), "w") as handle:
        handle.write(" ".join(f"{type(exc).__name__}: {exc}".split())[:300] + "\n")


def first_error_line(directory: str) -> str | None:
    """The error line a failed child process left in ``directory``, if any."""
    import glob

    for path in sorted(glob.glob(os.path.join(directory, "error-*.txt"))):
        with open(path) as handle:
            return handle.read().strip()
    return None
