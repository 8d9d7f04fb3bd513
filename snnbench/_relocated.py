"""The flat module names snnbench had before its modules were grouped by stage.

Plugins and scripts written against ``snnbench.training``, ``snnbench.store``
and the rest keep working: importing an old name gives the very module object
the new name does (one module, one set of classes, so ``isinstance`` and
``mock.patch`` behave), not a second copy. New code imports the stage paths.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType

#: Old ``snnbench.<name>`` -> the stage package that holds it now.
RELOCATED: dict[str, str] = {
    **dict.fromkeys(("suite", "params", "registry", "plugins", "metric_specs"), "snnbench.definition"),
    **dict.fromkeys(("runner", "executors", "leases", "lifecycle", "assembly", "training", "execution",
                     "metrics", "cell_detail", "progress", "tune"), "snnbench.running"),
    **dict.fromkeys(("store", "store_lock", "leaderboard", "gate", "statistics", "compare", "checkout",
                     "report"), "snnbench.results"),
}


def new_name(old: str) -> str | None:
    """The module's current name for an old one (``snnbench.report.html`` too), else None."""
    parts = old.split(".")
    if len(parts) < 2 or parts[0] != "snnbench" or parts[1] not in RELOCATED:
        return None
    return ".".join([RELOCATED[parts[1]], *parts[1:]])


class _SameModule(importlib.abc.Loader):
    def __init__(self, target: str):
        self.target = target
        self.own_spec: importlib.machinery.ModuleSpec | None = None

    def create_module(self, spec) -> ModuleType:
        module = importlib.import_module(self.target)
        self.own_spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        """Nothing runs (the module ran under its new name); the import system
        has just stamped the old name's spec on it, and the module's own goes
        back, or importlib.resources would see a package as a plain module."""
        module.__spec__ = self.own_spec


class RelocatedModuleFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        current = new_name(fullname)
        if current is None:
            return None
        return importlib.util.spec_from_loader(fullname, _SameModule(current))


def install() -> None:
    """Put the finder first, once, so an old name never loads a second copy."""
    if not any(isinstance(finder, RelocatedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, RelocatedModuleFinder())
