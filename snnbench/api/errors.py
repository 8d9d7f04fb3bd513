"""Errors meant for the user, not for a traceback.

The CLI prints any :class:`SnnbenchError` as one clear message and exits
non-zero; anything else is a bug in snnbench or in a plugin.
"""

from __future__ import annotations

import difflib
import reprlib
from collections.abc import Iterable

#: how a value from a user's file is echoed in a message: a few levels and
#: items of it, never a 300-level nested table in full
_VALUE_REPR = reprlib.Repr()
_VALUE_REPR.maxlevel, _VALUE_REPR.maxdict, _VALUE_REPR.maxlist = 3, 6, 6
_VALUE_REPR.maxstring, _VALUE_REPR.maxother, _VALUE_REPR.maxlong = 80, 80, 40


def printable(text: str, limit: int = 200) -> str:
    """``text`` with control characters (ANSI escapes, newlines, NULs) shown
    as escapes instead of acting on the terminal, cut to ``limit`` characters."""
    shown = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
    return shown if len(shown) <= limit else f"{shown[:limit]}... ({len(shown) - limit} more characters)"


def shown_value(value: object) -> str:
    """A short, printable repr of a value from a user's file."""
    return printable(_VALUE_REPR.repr(value))


class SnnbenchError(Exception):
    """A problem the user can fix: bad input, missing data, unknown name."""


class SuiteError(SnnbenchError):
    """A suite file that does not validate: names the file, line, key and value."""

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None,
                 value: object = None, line: int | None = None, hint: str | None = None):
        self.file, self.key, self.value, self.line, self.hint = file, key, value, line, hint
        where = printable(file or "<suite>", 500)
        if line is not None:
            where += f":{line}"
        parts = [where]
        if key is not None:
            shown_key = printable(key, 120)
            parts.append(f"[{shown_key}]" if value is None else f"{shown_key} = {shown_value(value)}")
        text = ": ".join(parts) + f": {printable(message, 500)}"
        if hint:
            text += f" ({printable(hint, 300)})"
        super().__init__(text)


class SuiteErrors(SuiteError):
    """Every error found in one suite file, reported together as a compiler
    lists them, so one round of fixes clears the file. ``errors`` holds each
    :class:`SuiteError`; the attributes of the first are this error's own."""

    def __init__(self, errors: list[SuiteError]):
        self.errors = errors
        first = errors[0]
        self.file, self.key, self.value, self.line, self.hint = (first.file, first.key, first.value, first.line,
                                                                  first.hint)
        where = printable(first.file or "<suite>", 500)
        SnnbenchError.__init__(self, f"{where}: {len(errors)} errors:\n" + "\n".join(f"  {e}" for e in errors))


class UnknownComponentError(SnnbenchError):
    """A component name no plugin registered; suggests the nearest one."""

    def __init__(self, kind: str, name: str, known: Iterable[str]):
        self.kind, self.name = kind, name
        self.suggestion = did_you_mean(name, known)
        message = f"unknown {kind} {name!r}"
        if self.suggestion:
            message += f"; did you mean {self.suggestion!r}?"
        else:
            message += f"; registered: {', '.join(sorted(known)) or 'none'}"
        super().__init__(message)


class DuplicateComponentError(SnnbenchError):
    """Two plugins registered the same name for the same component kind."""


class TrainingDiverged(SnnbenchError):
    """The loss or the model's parameters became NaN or infinite."""


class DataUnavailableError(SnnbenchError):
    """A dataset's files are missing and cannot be downloaded here."""


def did_you_mean(name: str, known: Iterable[str]) -> str | None:
    """The closest known name, if one is close enough to be a likely typo."""
    matches = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return matches[0] if matches else None
