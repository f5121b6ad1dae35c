"""What can go wrong in a deploy, each with a message that says what to do about it."""

from __future__ import annotations


class DeployError(Exception):
    """Deploying failed; the message says what to do about it."""


class NoRepl(DeployError):
    """The board did not come to its REPL."""


class IncompatibleBoard(DeployError):
    """The board's MicroPython cannot load what this mpy-cross makes."""


class CompileError(DeployError):
    """mpy-cross rejected a firmware module."""


class NotStarted(DeployError):
    """The files are on the board, but it did not report the new version."""
