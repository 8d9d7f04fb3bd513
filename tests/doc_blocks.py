"""The code blocks of a Markdown page and the mark before each (docs/development.md,
"Writing the docs"): ``<!-- tested[: NAME] -->`` runs in the tests,
``<!-- illustrative: why -->`` is shown only. Shared by test_docs and test_readme."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

#: languages whose blocks must say whether they run
RUNNABLE = {"sh", "bash", "shell", "console", "python", "pycon"}
MARK = re.compile(r"^<!--\s*(tested|illustrative)\b:?\s*(.*?)\s*-->\s*$")
FENCE = re.compile(r"^(`{3,}|~{3,})(.*)$")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int
    language: str
    mark: str | None
    note: str
    body: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} ({self.language or 'no language'})"


def blocks(path: Path) -> list[Block]:
    """The fenced blocks of ``path`` (MyST directives such as ``{toctree}`` included)."""
    found = []
    lines = path.read_text().splitlines()
    index = 0
    while index < len(lines):
        fence = FENCE.match(lines[index])
        if not fence:
            index += 1
            continue
        marker, info = fence.group(1), fence.group(2).strip()
        end = next((i for i in range(index + 1, len(lines))
                    if lines[i].startswith(marker[0] * len(marker)) and not lines[i].strip(marker[0])),
                   len(lines))
        previous = lines[index - 1] if index else ""
        mark = MARK.match(previous)
        found.append(Block(path, index + 1, info.split()[0] if info else "", mark and mark.group(1),
                           mark.group(2) if mark else "", "\n".join(lines[index + 1:end]) + "\n"))
        index = end + 1
    return found


def shell_commands(body: str) -> list[str]:
    """The commands of a shell block: comments dropped, continuation lines joined."""
    commands, current = [], ""
    for line in body.splitlines():
        line = re.sub(r"\s+#.*$", "", line) if not line.lstrip().startswith("#") else ""
        if not line.strip():
            continue
        current += line.rstrip("\\").rstrip() + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            commands.append(current.strip())
            current = ""
    return commands
