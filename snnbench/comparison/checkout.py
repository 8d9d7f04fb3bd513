"""A commit's own snnbench, runnable beside the current one.

An A/B of two commits must run each with its own code and its own entry
points (a commit that adds a plugin module registers it; its base does not
know it). Each side is therefore checked out (a ``git worktree`` of the
commit, or the working tree itself) and installed with pip into a folder of
its own (``pip install --no-deps --target``). A process started with that
folder first on ``PYTHONPATH`` imports that side's ``snnbench`` and
``snnbench_plugins`` and sees that side's entry points (importlib.metadata
takes the first distribution of a name on the path), while torch and every
other library come from the environment both sides share, so the A/B
isolates the code change.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from snnbench.api.errors import SnnbenchError


def _git(root: Path, *args: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as error:
        raise SnnbenchError(f"cannot run git in {root}: {error}") from None


def repository_root(path: Path) -> Path:
    found = _git(path if path.is_dir() else path.parent, "rev-parse", "--show-toplevel")
    if found.returncode != 0:
        raise SnnbenchError(f"{path} is not inside a git repository; compare runs commits of one")
    return Path(found.stdout.strip())


def resolve_commit(root: Path, ref: str) -> str:
    found = _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if found.returncode != 0 or not found.stdout.strip():
        raise SnnbenchError(f"base ref {ref!r} is not a commit of {root} (try a branch, tag or sha that "
                            "git log shows; in CI, fetch the base branch first)")
    return found.stdout.strip()


@dataclass(frozen=True)
class TreeChanges:
    """How the working tree differs from its commit: ``tracked`` files with
    changes (modified, deleted, staged), and ``untracked`` files that git
    does not ignore (a new folder shows as one entry)."""

    tracked: list[str]
    untracked: list[str]


def tree_changes(root: Path) -> TreeChanges:
    lines = [line for line in _git(root, "status", "--porcelain").stdout.splitlines() if line.strip()]
    return TreeChanges([line[3:] for line in lines if not line.startswith("??")],
                       [line[3:] for line in lines if line.startswith("??")])


def has_file(root: Path, commit: str, relative: Path) -> bool:
    return _git(root, "cat-file", "-e", f"{commit}:{relative.as_posix()}").returncode == 0


@dataclass(frozen=True)
class Side:
    """One side of an A/B: which code, where its tree is, where it is installed."""

    name: str
    ref: str
    commit: str
    source: Path
    site: Path
    #: the working tree with uncommitted changes on top of ``commit``
    dirty: bool = False

    @property
    def version(self) -> str:
        return self.commit[:12] + ("-dirty" if self.dirty else "")

    @property
    def short(self) -> str:
        return f"{self.name} {self.ref} ({self.version})"

    def environment(self) -> dict[str, str]:
        path = os.environ.get("PYTHONPATH")
        return os.environ | {"PYTHONPATH": str(self.site) + (os.pathsep + path if path else "")}

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", *args]


def check_out(root: Path, commit: str, into: Path) -> Path:
    """A detached worktree of ``commit`` at ``into`` (removed by :func:`remove_checkout`)."""
    made = _git(root, "worktree", "add", "--detach", "--force", str(into), commit)
    if made.returncode != 0:
        raise SnnbenchError(f"cannot check out {commit[:12]} into {into}: {made.stderr.strip()}")
    return into


def snapshot(root: Path, into: Path) -> Path:
    """A copy of the working tree as a commit of it would hold it (tracked and
    untracked files, ignored ones left out): built from there, no stale
    ``build/`` folder of an earlier install leaks into the installed code."""
    listed = _git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for name in filter(None, listed.stdout.split("\0")):
        source = root / name
        if source.is_symlink():  # as git holds it: the link (suites/ -> snnbench/suites/), not its target
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            (into / name).symlink_to(source.readlink())
        elif source.is_file():  # a tracked file deleted in the tree is not copied
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, into / name)
    return into


def remove_checkout(root: Path, tree: Path) -> None:
    _git(root, "worktree", "remove", "--force", str(tree))
    shutil.rmtree(tree, ignore_errors=True)
    _git(root, "worktree", "prune")


def install(side_name: str, source: Path, into: Path) -> Path:
    """``pip install`` the tree at ``source`` (no dependencies: they are shared)
    into the folder ``into``."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "--target", str(into), str(source)],
        capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise SnnbenchError(f"cannot install the {side_name} side from {source}: {tail}")
    return into
