"""Errors the command line turns into a one-line message and exit code 2."""
from __future__ import annotations


class ReproError(Exception):
    """A user-facing error: bad input, missing data, corrupt checkpoint, NaN loss.

    ``repro`` prints ``error: <message>`` on one line and exits with 2; no
    finished result is touched.
    """

    exit_code = 2


class DatasetMissing(ReproError):
    """A dataset's files are not where the suite looks for them."""


class BadArgument(ReproError):
    """A command-line value is not one of the accepted ones."""


class CorruptCheckpoint(ReproError):
    """A checkpoint file cannot be read back."""


class CorruptResult(ReproError):
    """A finished run's ``result.json`` cannot be read back."""


class NonFiniteLoss(ReproError):
    """Training produced a NaN or infinite loss at update ``step`` (0-based)."""

    def __init__(self, message: str, step: int = -1):
        super().__init__(message)
        self.step = step
