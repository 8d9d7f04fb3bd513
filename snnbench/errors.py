"""Errors meant for the user, not for a traceback.

The CLI prints any :class:`SnnbenchError` as one clear message and exits
non-zero; anything else is a bug in snnbench or in a plugin.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class SnnbenchError(Exception):
    """A problem the user can fix: bad input, missing data, unknown name."""


class SuiteError(SnnbenchError):
    """A suite file that does not validate: names the file, line, key and value."""

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None,
                 value: object = None, line: int | None = None, hint: str | None = None):
        self.file, self.key, self.value, self.line, self.hint = file, key, value, line, hint
        where = file or "<suite>"
        if line is not None:
            where += f":{line}"
        parts = [where]
        if key is not None:
            parts.append(f"[{key}]" if value is None else f"{key} = {value!r}")
        text = ": ".join(parts) + f": {message}"
        if hint:
            text += f" ({hint})"
        super().__init__(text)


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


class DataUnavailableError(SnnbenchError):
    """A dataset's files are missing and cannot be downloaded here."""


def did_you_mean(name: str, known: Iterable[str]) -> str | None:
    """The closest known name, if one is close enough to be a likely typo."""
    matches = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return matches[0] if matches else None
