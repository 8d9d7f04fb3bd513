"""Kept models: each ok row's trained network, in a folder beside the store.

A row is all the leaderboard needs, but a new metric, or a fixed definition
of an old one, needs the network itself: with its weights kept, a row is
measured again without training it again (``snnbench remeasure``), and the
network can be carried to other tools (``snnbench export --nir``).

The store ``results.db`` keeps its models in ``results.db.models/``, one
safetensors file per row that trained one: the tensors of the model's
``state_dict``, the random state the measurements started from, and in the
file's JSON header what rebuilds the network (the cell's config, dataset,
the plugins and library versions that built it). safetensors holds tensors
and text only, so loading a file never runs code (a pickle would).

A file is named by its cell and its own content,
``<config hash>-s<seed>-<device>-<sha256[:12]>.safetensors``, and its row
records the name, the full sha256 and the size (``environment["model"]``).
So two runs of a cell are two rows with a file each (unless they trained
the same bytes, which then share one), a file is never overwritten by
another, and every read is checked against its row: a truncated or changed
file is an error naming it, never a model quietly different from the one
measured. Rows written again without training (``remeasure``) point at the
same file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from snnbench.api.errors import SnnbenchError, did_you_mean

#: what the header's ``format`` says; a file of another layout is refused
FORMAT = "snnbench-model/1"
SUFFIX = ".safetensors"


class ModelFileError(SnnbenchError):
    """A kept model's file is missing, truncated, changed or not one of ours."""


@dataclass(frozen=True)
class ModelRef:
    """Where a row's model is, as its ``environment["model"]`` records it."""

    file: str
    sha256: str
    bytes: int

    @classmethod
    def of_row(cls, row: dict[str, Any]) -> ModelRef | None:
        recorded = (row.get("environment") or {}).get("model")
        return cls(**recorded) if recorded else None

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "sha256": self.sha256, "bytes": self.bytes}


def reference(data: bytes, config_hash: str, seed: int | None, device_type: str) -> ModelRef:
    """The reference of a model file's bytes: its name, digest and size."""
    digest = hashlib.sha256(data).hexdigest()
    return ModelRef(f"{config_hash}-s{seed}-{device_type}-{digest[:12]}{SUFFIX}", digest, len(data))


#: safetensors' names of the dtypes a model may hold
_DTYPES = {"float64": "F64", "float32": "F32", "float16": "F16", "bfloat16": "BF16", "int64": "I64",
           "int32": "I32", "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL"}


def serialize(tensors: dict[str, Any], metadata: dict[str, str]) -> bytes:
    """safetensors bytes of CPU ``tensors`` with ``metadata``, always the same
    bytes for the same content: the header's keys and the tensors sorted by
    name (the safetensors library writes its header from a hash map, in an
    order that changes from call to call, so the same model would get another
    digest every time it is saved)."""
    header_entries: dict[str, Any] = {"__metadata__": dict(sorted(metadata.items()))}
    chunks, offset = [], 0
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        dtype = _DTYPES.get(str(tensor.dtype).removeprefix("torch."))
        if dtype is None:
            raise SnnbenchError(f"cannot keep tensor {name} of dtype {tensor.dtype} in a safetensors file")
        raw = tensor.reshape(-1).view(torch.uint8).numpy().tobytes()
        header_entries[name] = {"dtype": dtype, "shape": list(tensor.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header_entries, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def models_folder(store: Path) -> Path:
    """The folder beside the store ``store`` where its rows' models are kept."""
    return store.with_name(store.name + ".models")


def header(data: bytes, where: Path | str) -> dict[str, str]:
    """The JSON metadata of safetensors bytes (``__metadata__``), read without
    touching the tensors; a file too short for its own header is refused."""
    if len(data) < 8:
        raise ModelFileError(f"{where}: {len(data)} bytes, too short to be a safetensors file")
    (length,) = struct.unpack("<Q", data[:8])
    if data[8:9] != b"{":
        raise ModelFileError(f"{where}: not a safetensors file (no JSON header after its first 8 bytes)")
    if length > len(data) - 8:
        raise ModelFileError(f"{where}: its header says {length} bytes but the file has {len(data) - 8} after it "
                             "(truncated?)")
    try:
        parsed = json.loads(data[8:8 + length])
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFileError(f"{where}: not a safetensors file (its header is not JSON: {error})") from None
    metadata = parsed.get("__metadata__") if isinstance(parsed, dict) else None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        found = metadata.get("format") if isinstance(metadata, dict) else None
        raise ModelFileError(f"{where}: not an snnbench model file (format {found!r}, expected {FORMAT!r})")
    return metadata


@dataclass
class ModelsSummary:
    """The kept models of a store's rows, for ``snnbench ls models`` and the run's last line."""

    folder: Path
    files: int = 0
    bytes: int = 0
    #: ok rows whose model is kept
    kept: int = 0
    #: ok rows that kept none (run with --no-keep-models, or before models were kept)
    without: int = 0
    #: (row id, file) of rows whose file is not in the folder
    missing: list[tuple[int, str]] = field(default_factory=list)
    #: files no row names (left by a process that stopped between writing a model and its row)
    unreferenced: list[str] = field(default_factory=list)

    def line(self) -> str:
        text = (f"{self.kept} of {self.kept + self.without} ok rows keep their model: {self.files} file(s), "
                f"{megabytes(self.bytes)} in {self.folder}")
        if self.missing:
            text += f"; {len(self.missing)} file(s) missing"
        if self.unreferenced:
            text += f"; {len(self.unreferenced)} file(s) no row names"
        return text


def megabytes(size: int) -> str:
    return f"{size / 2**20:.2f} MB" if size >= 2**17 else f"{size / 2**10:.1f} kB"


class ModelFolder:
    """The models folder of one store."""

    def __init__(self, store: Path):
        self.path = models_folder(Path(store))

    def file(self, ref: ModelRef) -> Path:
        return self.path / ref.file

    def keep(self, data: bytes, ref: ModelRef) -> None:
        """Write a model's bytes under their name (atomically: a temporary file
        renamed into place). A file of that name already holds these bytes."""
        target = self.file(ref)
        if target.exists() and target.stat().st_size == ref.bytes:
            return
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
            partial.write_bytes(data)
            os.replace(partial, target)
        except OSError as error:
            raise SnnbenchError(f"cannot keep the model {target}: {error.strerror or error}") from None

    def read(self, ref: ModelRef) -> bytes:
        """The model's bytes, checked against its row's digest and size."""
        target = self.file(ref)
        try:
            data = target.read_bytes()
        except FileNotFoundError:
            raise ModelFileError(f"{target}: the kept model of this row is missing from {self.path}") from None
        except OSError as error:
            raise ModelFileError(f"{target}: cannot read it: {error.strerror or error}") from None
        verify(data, ref, target)
        return data

    def copy_from(self, other: ModelFolder, ref: ModelRef) -> bool:
        """Copy one model from ``other`` into this folder (checked on the way);
        False when ``other`` does not hold it."""
        if not other.file(ref).exists():
            return False
        if self.file(ref).exists():
            verify(self.file(ref).read_bytes(), ref, self.file(ref))
            return True
        self.keep(other.read(ref), ref)
        return True

    def copy_to(self, ref: ModelRef, target: Path) -> None:
        """Copy one model, checked, to ``target`` (a report's folder)."""
        self.read(ref)
        shutil.copyfile(self.file(ref), target)

    def summary(self, rows: Iterable[dict[str, Any]]) -> ModelsSummary:
        summary = ModelsSummary(self.path)
        named: set[str] = set()
        for row in rows:
            if row["status"] != "ok":
                continue
            ref = ModelRef.of_row(row)
            if ref is None:
                summary.without += 1
                continue
            summary.kept += 1
            named.add(ref.file)
            if not self.file(ref).exists():
                summary.missing.append((row.get("id"), ref.file))
        present = sorted(self.path.glob(f"*{SUFFIX}")) if self.path.is_dir() else []
        summary.files = len(present)
        summary.bytes = sum(path.stat().st_size for path in present)
        summary.unreferenced = [path.name for path in present if path.name not in named]
        return summary


def verify(data: bytes, ref: ModelRef, where: Path | str) -> None:
    """Refuse bytes that are not the ones their row recorded."""
    if len(data) < ref.bytes:
        raise ModelFileError(f"{where}: truncated: {len(data)} of the {ref.bytes} bytes its row recorded")
    digest = hashlib.sha256(data).hexdigest()
    if len(data) != ref.bytes or digest != ref.sha256:
        raise ModelFileError(f"{where}: changed since it was written: {len(data)} bytes with sha256 {digest[:12]}..., "
                             f"its row recorded {ref.bytes} bytes with sha256 {ref.sha256[:12]}...")


def select_row(rows: list[dict[str, Any]], cell: str, suite: str | None = None, seed: int | None = None
               ) -> dict[str, Any]:
    """The row ``cell`` names: a row id, or a cell's label (the newest ok row
    of each cell with that label, narrowed by ``suite`` and ``seed``, must be
    one). It must be ok and keep its model."""
    if cell.isdigit():
        found = [row for row in rows if row["id"] == int(cell)]
        if not found:
            raise SnnbenchError(f"no row {cell} in the store (snnbench ls models lists the rows with kept models)")
        chosen = found[0]
    else:
        newest: dict[tuple, dict[str, Any]] = {}
        for row in rows:
            newest[(row["suite"], row["config_hash"], row["seed"], row["device_type"])] = row
        candidates = [row for row in newest.values() if row["status"] == "ok" and row["label"] == cell
                      and (suite is None or row["suite"] == suite) and (seed is None or row["seed"] == seed)]
        if not candidates:
            labels = sorted({row["label"] for row in rows if row["status"] == "ok"})
            suggestion = did_you_mean(cell, labels)
            narrowed = "".join(f" {flag} {value}" for flag, value in (("--suite", suite), ("--seed", seed))
                               if value is not None)
            raise SnnbenchError(f"no ok row of cell {cell!r}{narrowed} in the store" + (
                f"; did you mean {suggestion!r}?" if suggestion else "; give a row id or a label as the leaderboard "
                                                                     "shows it"))
        if len(candidates) > 1:
            listed = "; ".join(f"row {row['id']}: suite {row['suite']} seed {row['seed']} {row['device_type']}"
                               for row in candidates)
            raise SnnbenchError(f"{len(candidates)} cells are labelled {cell!r} ({listed}): give --suite and --seed, "
                                "or the row id")
        chosen = candidates[0]
    if chosen["status"] != "ok":
        raise SnnbenchError(f"row {chosen['id']} is {chosen['status']}: only an ok row has a trained model")
    if ModelRef.of_row(chosen) is None:
        raise SnnbenchError(f"row {chosen['id']} ({chosen['label']} seed={chosen['seed']}) keeps no model: it ran "
                            "before models were kept, or with --no-keep-models (snnbench run --rerun keeps one)")
    return chosen
