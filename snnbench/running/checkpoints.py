"""Checkpoints at the end of each epoch, so a cell cut off mid-training
resumes from its last finished epoch instead of from epoch 0.

A full reproduction cell can train for hours (Spikformer on all of MNIST
on two CPU cores: about 5.5), longer than a sitting or a preemptible GPU
slot. The session saves, after every epoch of a rule's first ``epochs()``
loop: the model's weights, each optimiser and schedule it was handed, every
random generator training draws from (torch's, CUDA's, the session's
shuffling generator, Python's and NumPy's), the epoch history and the
timing so far. A rerun of the cell restores all of it before the next epoch,
so on one machine the resumed row equals an uninterrupted one's.

Only rules that declare ``LearningRuleSpec(resumable=True)`` are
checkpointed: they keep all their state in the model and the optimisers they
hand to ``session.schedule``, so skipping the epochs already run and
restoring those is the same as running them. A rule that builds state in
local variables across epochs (STDP's layer-by-layer passes) is not, and
restarts its cell as before.

A checkpoint also records the fingerprint of each component's code
(:mod:`snnbench.definition.fingerprints`): after an edit of a plugin, the
epochs saved by the old code are not resumed from (a row would describe
code that trained only its last epochs), and the cell trains from its first
epoch, saying why, as a row of changed code is run again.

Files are written atomically (a temporary file renamed into place) and
read with ``torch.load(weights_only=True)``, which executes no code. The
runner removes a cell's file once its row is in the store.
"""

from __future__ import annotations

import io
import os
import random
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from snnbench.api.errors import SnnbenchError
from snnbench.api.records import Cell, EpochStats

#: what the file holds; a file of another version is not resumed from
FORMAT = 2


def checkpoint_folder(store_path: Path) -> Path:
    """Where a run on the store ``store_path`` keeps its cells' checkpoints."""
    return Path(f"{store_path}.checkpoints")


def checkpoint_path(directory: Path, cell: Cell, device_type: str) -> Path:
    """Where ``cell``'s checkpoint lives: one file per cell, seed and device."""
    return directory / f"{cell.suite}-{cell.config_hash}-s{cell.seed}-{device_type}.pt"


def _random_states() -> dict[str, Any]:
    python_state = random.getstate()
    numpy_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": [python_state[0], list(python_state[1]), python_state[2]],
        "numpy": [numpy_state[0], torch.from_numpy(numpy_state[1].astype(np.int64)), *numpy_state[2:]],
    }


def _restore_random_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    if states["cuda"]:
        torch.cuda.set_rng_state_all(states["cuda"])
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, *rest = states["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))


class EpochCheckpoint:
    """The checkpoint file of ``cell`` on a device of ``device_type`` in
    ``directory``, for the code of the components it trains: ``code`` maps
    each component (``"encoder 'rate'"``) to its code's fingerprint."""

    def __init__(self, directory: Path, cell: Cell, device_type: str, code: dict[str, str]):
        self.path = checkpoint_path(directory, cell, device_type)
        self.code = code
        #: which cell the file belongs to, for a reader without the suite (snnbench status)
        self.cell = {"suite": cell.suite, "label": cell.label, "seed": cell.seed, "device_type": device_type,
                     "config_hash": cell.config_hash}

    def save(self, *, epochs_done: int, epochs: int, model: torch.nn.Module, optimizers: list, schedulers: list,
             generator: torch.Generator, history: list[EpochStats], timing: dict[str, Any]) -> None:
        state = {
            "format": FORMAT,
            "code": self.code,
            "cell": self.cell,
            "epochs_done": epochs_done,
            "epochs": epochs,
            "model": model.state_dict(),
            "optimizers": [optimizer.state_dict() for optimizer in optimizers],
            "schedulers": [scheduler.state_dict() for scheduler in schedulers],
            "generator": generator.get_state(),
            "random": _random_states(),
            "history": [asdict(stats) for stats in history],
            "timing": timing,
        }
        serialized = io.BytesIO()
        torch.save(state, serialized)
        partial = self.path.with_name(self.path.name + ".partial")
        for last_try in (False, True):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                partial.write_bytes(serialized.getbuffer())
                break
            except FileNotFoundError:  # another run on the store removed the folder as it emptied
                if last_try:
                    raise
        os.replace(partial, self.path)

    def load(self) -> dict[str, Any] | None:
        """The saved state, or None when there is none to resume from."""
        return read_checkpoint(self.path) if self.path.exists() else None

    def why_not_resumable(self, state: dict[str, Any]) -> str | None:
        """Why a loaded state must not be resumed from (None: it may be)."""
        if (problem := format_problem(state)) is not None:
            return problem
        changed = [component for component, fingerprint in self.code.items()
                   if state["code"].get(component) != fingerprint]
        if changed:
            return f"the code of {', '.join(changed)} changed since it was saved"
        return None

    def restore(self, state: dict[str, Any], *, model: torch.nn.Module, optimizers: list, schedulers: list,
                generator: torch.Generator) -> list[EpochStats]:
        """Put the saved state back; returns the epoch history so far."""
        if len(state["optimizers"]) != len(optimizers) or len(state["schedulers"]) != len(schedulers):
            raise SnnbenchError(f"checkpoint {self.path} was saved with {len(state['optimizers'])} optimiser(s) "
                                f"and {len(state['schedulers'])} schedule(s), the rule now has {len(optimizers)} "
                                f"and {len(schedulers)}; delete it to train the cell from its first epoch")
        model.load_state_dict(state["model"])
        for optimizer, saved in zip(optimizers, state["optimizers"]):
            optimizer.load_state_dict(saved)
        for scheduler, saved in zip(schedulers, state["schedulers"]):
            scheduler.load_state_dict(saved)
        generator.set_state(state["generator"])
        _restore_random_states(state["random"])
        return [EpochStats(**stats) for stats in state["history"]]

    def remove(self) -> None:
        remove_checkpoint(self.path)


def format_problem(state: dict[str, Any]) -> str | None:
    """Why a loaded state is of a format this snnbench does not resume from (None: it is not)."""
    if state.get("format") != FORMAT:
        return f"it is of checkpoint format {state.get('format')}, this snnbench writes format {FORMAT}"
    return None


def read_checkpoint(path: Path) -> dict[str, Any]:
    """The state saved in ``path``; raises :class:`SnnbenchError` naming a damaged file."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise SnnbenchError(f"cannot resume from checkpoint {path}: it is damaged or not a checkpoint "
                            f"({type(error).__name__}); delete it to train the cell from its first epoch") from None


def remove_checkpoint(path: Path) -> None:
    """Delete a checkpoint file, and the store's checkpoint folder once it
    holds no other. Runs sharing a store write into the folder while this
    one empties it: a folder that is not empty, or already gone, stays as it is."""
    path.unlink(missing_ok=True)
    try:
        path.parent.rmdir()
    except OSError:
        pass
