"""Errors of the user's making: each message names the file or key and is shown as one line."""

from __future__ import annotations


class InputError(ValueError):
    """A problem with an input file; the message names the file and is shown as one line."""
