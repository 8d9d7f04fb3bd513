"""The suites and baselines that ship inside the package, found by name.

An installed snnbench has no repository beside it, so the built-in suites
(``snnbench/suites/*.toml``) and the committed baselines
(``snnbench/baselines/<suite>.json``) are package data, and the commands
take their names wherever they run: ``snnbench run smoke``, ``snnbench
check --baseline smoke``. A path still works and comes first, so a file
called ``smoke`` in the current folder is that file, not the built-in suite.
"""

from __future__ import annotations

from pathlib import Path

from snnbench.api.errors import SnnbenchError, did_you_mean
from snnbench.definition.suite import SuiteDocument, find_suite_files

PACKAGE = Path(__file__).resolve().parent.parent
SUITES = PACKAGE / "suites"
BASELINES = PACKAGE / "baselines"


def builtin_suites() -> dict[str, SuiteDocument]:
    """The built-in suites by their ``[suite] name``."""
    return find_suite_files(SUITES)


def builtin_baselines() -> dict[str, Path]:
    """The shipped baselines by the name of the suite they gate."""
    return {path.stem: path for path in sorted(BASELINES.glob("*.json"))}


def suite_path(text: str | Path) -> Path:
    """The suite file ``text`` names: a path, else a built-in suite's name."""
    path = Path(text)
    if path.is_file():
        return path
    suites = builtin_suites()
    if str(text) in suites:
        return suites[str(text)].path
    raise SnnbenchError(f"{text}: cannot read the suite file: no such file, and no built-in suite of that name; "
                        + _nearest(path, suites, "snnbench ls --suites lists them"))


def baseline_path(text: str | Path) -> Path:
    """The baseline file ``text`` names: a path, else the name of a suite whose baseline ships."""
    path = Path(text)
    if path.is_file():
        return path
    baselines = builtin_baselines()
    if str(text) in baselines:
        return baselines[str(text)]
    raise SnnbenchError(f"cannot read baseline {text}: no such file, and no built-in baseline of that name; "
                        + _nearest(path, baselines, f"built-in: {', '.join(baselines) or 'none'}"))


def _nearest(path: Path, names: dict, otherwise: str) -> str:
    """A did-you-mean for a name or a path to a file of that name (``suites/smoke.tml``)."""
    for guess in (str(path), path.stem):
        suggestion = did_you_mean(guess, names)
        if suggestion:
            return f"did you mean {suggestion!r}?"
    return otherwise
