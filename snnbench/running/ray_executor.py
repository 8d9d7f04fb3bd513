"""The Ray executor: a suite's cells on a Ray cluster, or on every GPU of one machine.

Ray places the work; this module only keeps the cluster busy and turns what
Ray reports into rows. One :class:`CellWorker` actor runs per slot of the
cluster (a GPU each when the suite runs on CUDA, ``cpus_per_cell`` CPUs each
otherwise). An actor, not a task per cell, because a worker must keep what
it loaded: the plugins, and the datasets already moved to its device, load
once per worker and serve all its cells; and an actor holds its GPU for its
whole life, where a reused task worker could be handed another GPU than the
one its CUDA context was made on. Each cell runs the ordinary
:func:`~snnbench.running.runner.run_cell` on its worker and comes back as a
row; only the driver writes the store, one transaction a row, so SQLite
needs no network file system.

A cell is handed to a worker only when one is idle, so the runner claims it
just before it runs (as in-process) and a run stopped half-way leaves
unclaimed what never started. Failures stay with their cell: a cell that
raises is a failed row from ``run_cell`` itself, as in-process; a worker
that dies under a cell (killed, out of host memory, its node lost) is
restarted by Ray and the cell retried up to ``retries`` times, after which
the cell is a failed row saying so and a fresh worker takes the next cell.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

import ray
import ray.exceptions
import torch

from snnbench.api.errors import SnnbenchError
from snnbench.api.records import Cell, ResultRow
from snnbench.definition.plugins import load_plugins
from snnbench.running.executors import CellWork, WorkerSetup
from snnbench.running.host_memory import reuse_freed_host_memory
from snnbench.running.runner import DatasetCache, run_cell, run_environment

#: how long ``--address`` may take to answer before the run gives up on it
CONNECT_TIMEOUT_SECONDS = 10.0


class CellWorker:
    """One slot's worker: builds the run's plugins and datasets on
    its first cell and keeps them for the rest."""

    def __init__(self, setup: WorkerSetup):
        self.setup = setup
        self._state: tuple | None = None

    def run(self, cell: Cell) -> ResultRow:
        """The cell's row; no lifecycle hook runs here (the driver replays the
        cell's epochs to its hooks and reporters from the row)."""
        if self._state is None:
            self._state = self._build()
        plugins, options, data, environment = self._state
        return run_cell(cell, plugins, data, options, environment)

    def _build(self) -> tuple:
        setup = self.setup
        reuse_freed_host_memory()  # a worker runs nothing but cells, as the snnbench command does
        torch.set_num_threads(setup.threads)
        for name, value in setup.plugin_environment.items():  # the driver's plugin choice
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        plugins = load_plugins(setup.plugin_modules)
        options = setup.options
        context = ray.get_runtime_context()
        environment = run_environment(plugins, options) | {
            "ray": {"node_id": context.get_node_id(), "worker_pid": os.getpid(),
                    "gpu_ids": [str(i) for i in context.get_accelerator_ids().get("GPU", [])]}}
        return plugins, options, DatasetCache(plugins, options), environment


@dataclass(frozen=True)
class Slots:
    """How many cells the cluster runs at once, and what each asks for."""

    count: int
    num_cpus: int
    num_gpus: int


class RayExecutor:
    """Runs cells on the Ray cluster at ``address`` (``None``: a Ray started
    here, with this machine's CPUs and GPUs). ``device`` is the cells' device
    type, decided from the cluster's resources by :meth:`connect`."""

    live_epochs = False

    def __init__(self, device: torch.device, cpus_per_cell: int, retries: int, owns_ray: bool):
        self.device, self.cpus_per_cell, self.retries = device, cpus_per_cell, retries
        self._owns_ray = owns_ray

    @classmethod
    def connect(cls, address: str | None, requested_device: str = "auto", cpus_per_cell: int = 1,
                retries: int = 1) -> RayExecutor:
        """Join the cluster at ``address`` (or start Ray here) and choose the
        cells' device: CUDA when the cluster has GPUs, unless ``cpu`` is asked."""
        owns_ray = not ray.is_initialized()
        if owns_ray:
            _init(address)
        try:
            gpus = int(ray.cluster_resources().get("GPU", 0))
            device = _cells_device(requested_device, gpus, address)
        except BaseException:
            if owns_ray:
                ray.shutdown()
            raise
        return cls(device, cpus_per_cell, retries, owns_ray)

    def slots(self) -> Slots:
        resources = ray.cluster_resources()
        if self.device.type == "cuda":
            return Slots(max(1, int(resources.get("GPU", 0))), self.cpus_per_cell, 1)
        return Slots(max(1, int(resources.get("CPU", 0)) // self.cpus_per_cell), self.cpus_per_cell, 0)

    def describe(self) -> str:
        slots = self.slots()
        nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
        each = f"a GPU and {slots.num_cpus} CPU(s)" if slots.num_gpus else f"{slots.num_cpus} CPU(s)"
        return f"Ray: {nodes} node(s), {slots.count} cell(s) at a time, each on {each}"

    def map(self, work: CellWork, cells: Iterable[Cell]) -> Iterator[ResultRow]:
        slots = self.slots()
        setup = replace(work.setup, threads=self.cpus_per_cell)
        worker_class = ray.remote(CellWorker).options(
            num_cpus=slots.num_cpus, num_gpus=slots.num_gpus, max_restarts=self.retries,
            max_task_retries=self.retries)
        new_worker = lambda: worker_class.remote(setup)  # noqa: E731
        idle = [new_worker() for _ in range(slots.count)]
        running: dict[ray.ObjectRef, tuple[Cell, object]] = {}
        pending = iter(cells)
        try:
            while True:
                while idle:
                    cell = next(pending, None)
                    if cell is None:
                        break
                    worker = idle.pop()
                    ref = worker.run.options(name=f"snnbench {cell.label} seed={cell.seed}").remote(cell)
                    running[ref] = (cell, worker)
                if work.progress is not None:
                    work.progress.running(len(running))
                if not running:
                    return
                (done,), _ = ray.wait(list(running), num_returns=1)
                cell, worker = running.pop(done)
                try:
                    row = ray.get(done)
                except ray.exceptions.RayError as error:
                    row = work.failed(cell, _lost(error, self.retries))
                    if isinstance(error, ray.exceptions.RayActorError):  # its restarts are spent
                        ray.kill(worker, no_restart=True)
                        worker = new_worker()
                idle.append(worker)
                yield row
        finally:  # done, or stopped (Ctrl-C): the workers go, with any cell still on them
            for worker in idle + [worker for _, worker in running.values()]:
                ray.kill(worker, no_restart=True)

    def close(self) -> None:
        if self._owns_ray:
            ray.shutdown()


def _lost(error: ray.exceptions.RayError, retries: int) -> str:
    """The reason of a cell whose worker Ray could not keep alive."""
    first = next((line.strip() for line in str(error).splitlines() if line.strip()), type(error).__name__)
    tried = f"after {retries} retr{'y' if retries == 1 else 'ies'}" if retries else "with no retry (--retries 0)"
    return f"the Ray worker running this cell was lost {tried}: {type(error).__name__}: {first}"


def _init(address: str | None) -> None:
    """``ray.init``, joining ``address`` or starting Ray here; an address
    that does not answer is an error at once, not Ray's minutes of retries."""
    if address is not None:
        _check_reachable(address)
    try:
        ray.init(address=address, include_dashboard=False, logging_level="WARNING")
    except (ConnectionError, RuntimeError, ValueError) as error:
        where = f"the Ray cluster at --address {address}" if address else "a Ray instance on this machine"
        raise SnnbenchError(f"could not start or join {where}: {error}") from None


def _check_reachable(address: str) -> None:
    """Refuse an ``--address`` that nothing listens at (``auto`` is left to Ray)."""
    if address == "auto":
        return
    parts = urlsplit(address if "://" in address else f"//{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if not host or port is None:
        raise SnnbenchError(f"--address {address!r}: give the cluster's head as HOST:PORT (what `ray start --head` "
                            "prints, e.g. 10.0.0.1:6379), ray://HOST:PORT, or auto")
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_SECONDS).close()
    except OSError as error:
        raise SnnbenchError(f"--address {address}: no Ray cluster answers at {host}:{port} "
                            f"({error.strerror or error}); start one with `ray start --head`, or leave --address "
                            "out to run on this machine; nothing was run or recorded") from None


def _cells_device(requested: str, gpus: int, address: str | None) -> torch.device:
    """The device type every cell runs on: a GPU of its own where the cluster
    has GPUs (``auto``, ``cuda``), else CPU."""
    where = f"the Ray cluster at {address}" if address else "this machine"
    if requested == "auto":
        return torch.device("cuda" if gpus else "cpu")
    if requested == "cpu":
        return torch.device("cpu")
    if requested == "cuda":
        if not gpus:
            raise SnnbenchError(f"--device cuda: {where} has no GPU")
        return torch.device("cuda")
    raise SnnbenchError(f"--device {requested!r} with --executor ray: Ray gives each cell a GPU of its own; "
                        "give auto, cuda or cpu")
