"""The ``snnbench`` command: run | merge | validate | ls | leaderboard | report | check | compare | tune
| export-results.

Bad input never ends in a traceback: every user error is one line naming
the file, key and value, with a non-zero exit (2 for bad input, 1 for failed
cells or a regression).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from snnbench import __version__
from snnbench.api.contracts import COMPONENT_KINDS, PLUGIN_KINDS
from snnbench.api.errors import SnnbenchError, did_you_mean
from snnbench.comparison.compare import DEFAULT_TOLERANCES as COMPARE_TOLERANCES
from snnbench.definition.metric_specs import METRICS
from snnbench.definition.params import describe_params
from snnbench.definition.plugins import PluginSet, load_plugins
from snnbench.results.gate import DEFAULT_TOLERANCES as GATE_TOLERANCES
from snnbench.results.leaderboard import DEFAULT_ALPHA as LEADERBOARD_ALPHA
from snnbench.results.store import DEFAULT_DB, ResultStore, make_store_folder
from snnbench.running.host_memory import reuse_freed_host_memory

EPILOG = """examples:
  snnbench run smoke                             a built-in suite by name (snnbench ls --suites lists them)
  snnbench run suites/smoke.toml                 a suite file: train and measure every cell, record to the leaderboard
  snnbench run encoders-cpu                      the encoder comparison sized for a CPU (measured: 80-93%)
  snnbench run suites/smoke.toml --report mlflow --report tensorboard    also log to experiment trackers
  snnbench leaderboard --suite encoders --by encoder
  snnbench run suites/encoders.toml --executor ray             every GPU of this machine (or --address HEAD:PORT)
  snnbench run suites/encoders.toml --shard 2/8 --db shard-2.db   one task of a job array; then:
  snnbench merge shard-*.db --into all.db
  snnbench remeasure --stale                     fill stale metrics from the kept models, without training
  snnbench status --db runs/long.db              cells in flight: running now, or saved mid-training to resume
  snnbench export mnist/direct/snntorch-lif/csnn/bptt --nir csnn.nir --check   a NIR graph, checked in snnTorch
  snnbench report --db leaderboard/snnbench.db --out report/    a static site: tables, trade-off plots, cells
  snnbench check --baseline smoke                exit 1 on a regression against the shipped smoke baseline
  snnbench tune suites/tune-demo.toml --trials 6 --objective accuracy:max --objective encoder_density:min

environment:
  SNNBENCH_DATA                      data directory (default ./data); --data-dir overrides
  SNNBENCH_DISABLE_PLUGIN_AUTOLOAD=1 load only snnbench's built-in plugins
  SNNBENCH_LOAD_PLUGINS=a,b          load only these third-party plugins
"""

KIND_ALIASES = {alias: kind.name for kind in COMPONENT_KINDS for alias in kind.aliases}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="snnbench", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Benchmark spiking neural networks: run declared suites of encoders, neuron models, "
                    "architectures, learning rules and datasets, and compare them on a leaderboard.")
    parser.add_argument("--version", action="version", version=f"snnbench {__version__}")
    parser.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                        help="also load a plugin module by import path (repeatable)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser("run", help="run suites and record every cell in the store",
                              description="Train and measure every cell of the suites; record one row per "
                                          "cell and seed. Cells already recorded as ok are skipped.",
                              epilog="On a CPU: snnbench run encoders-cpu, the encoder comparison sized for one "
                                     "(measured: 80 to 93% accuracy over two seeds, no cell at chance; its file's "
                                     "header has the table). --limit and --epochs cap any suite for a quick check "
                                     "that it runs, not for a comparison; a run whose cells are mostly at chance "
                                     "ends with a warning that its training was too short for conclusions.")
    run.add_argument("suites", nargs="+", metavar="SUITE",
                     help="suite TOML files, or names of built-in suites (snnbench ls --suites)")
    run.add_argument("--rerun", action="store_true", help="run cells again even if recorded as ok")
    run.add_argument("--no-keep-models", action="store_true",
                     help="do not keep each ok cell's trained model beside the store (docs/models.md)")
    run.add_argument("--seeds", type=_seeds, metavar="LIST",
                     help="run these seeds instead of the suite's: 0-9, or 0,1,2 (a cell's config hash does "
                          "not include its seed, so the rows belong to the same cells)")
    run.add_argument("--only", action="append", default=[], metavar="KIND=NAME",
                     help="run only the cells with this component, e.g. --only encoder=rate (repeatable: "
                          "names of one kind are alternatives, kinds must all match); the cells are the "
                          "suite's own, so a full run later skips them as recorded")
    run.add_argument("--report", action="append", default=[], metavar="REPORTER",
                     help="also report the run to this experiment tracker (repeatable): mlflow, tensorboard, "
                          "wandb, or a plugin's (snnbench ls reporters); its params are the suite's "
                          "[report.REPORTER] table if it has one, else the reporter's defaults")
    run.add_argument("--no-report", action="store_true",
                     help="leave out the reporters the suite's [report] tables name (--report still adds)")
    _add_run_arguments(run)
    scale = run.add_argument_group(
        "beyond one process", "Run cells on a Ray cluster (needs pip install 'snnbench[ray]'), or only a "
                              "shard of them, e.g. one task of a Slurm job array; see docs/guide/scaling.md")
    scale.add_argument("--executor", choices=("local", "ray"), default="local",
                       help="local (default): one cell after another in this process; ray: each cell on a Ray "
                            "worker with a GPU of its own (CPUs without GPUs), rows written here")
    scale.add_argument("--address", metavar="HOST:PORT",
                       help="with --executor ray: the cluster's head (what `ray start --head` prints), "
                            "ray://HOST:PORT or auto; default: start Ray here with this machine's CPUs and GPUs")
    scale.add_argument("--cpus-per-cell", type=_positive, default=1, metavar="N",
                       help="with --executor ray: CPUs (and torch threads) each cell gets (default 1)")
    scale.add_argument("--retries", type=_non_negative, default=1, metavar="N",
                       help="with --executor ray: how often a cell whose worker died (killed, out of memory, "
                            "node lost) runs again before it is recorded as failed (default 1)")
    scale.add_argument("--shard", type=_shard, metavar="K/N",
                       help="run only the K-th of N disjoint parts of the cells (1/N to N/N), the same cells "
                            "whatever the suite's order or what is done already, as long as every shard runs the "
                            "same suite and flags; give each shard its own --db, then snnbench merge")

    compare = commands.add_parser(
        "compare", help="A/B on this machine: a suite (or the neuron benchmarks) at a base commit and at "
                        "the working tree",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run one workload with the base commit's own code and entry points (a git worktree, "
                    "installed into a folder of its own) and with the working tree's, on this machine. "
                    "Deterministic metrics (accuracy, sparsity, encoder densities, SynOps) are compared "
                    "seed by seed; timings in interleaved repeats, by the ratio of medians with a bootstrap "
                    "95% interval. Exit 1 on a regression, 2 on bad input.",
        epilog="examples:\n"
               "  snnbench compare suites/smoke.toml --base origin/main --json compare.json\n"
               "  snnbench compare --neurons -k 'lif-fused and N4096' --base HEAD~1\n"
               "  snnbench compare suites/smoke.toml --tolerance accuracy=abs:0.005 --tolerance "
               "train_samples_per_s=rel:0.05")
    compare.add_argument("suite", nargs="?", type=Path, metavar="SUITE",
                         help="suite TOML file or built-in suite name (each side runs its own copy when it lies "
                              "in the repository)")
    compare.add_argument("--neurons", action="store_true",
                         help="compare the neuron benchmarks (benchmarks/test_neuron_speed.py) instead of a suite")
    compare.add_argument("-k", dest="select", metavar="EXPR", help="with --neurons: pytest -k expression "
                         "choosing the benchmarks, e.g. 'snntorch-lif and N1024'")
    compare.add_argument("--base", default="HEAD", metavar="REF",
                         help="the commit to compare against (default HEAD: the last commit)")
    compare.add_argument("--seeds", type=_seeds, metavar="LIST",
                         help="seeds of the paired comparison instead of the suite's: 0-2, or 0,1,2 "
                              "(timings run the first)")
    compare.add_argument("--repeats", type=_non_negative, default=6, metavar="N",
                         help="timed rounds of each side after a warm-up round, interleaved in alternating "
                              "order (base-head, head-base) and judged by pairs, so an even number (default "
                              "6; 0 compares a suite's deterministic metrics only)")
    compare.add_argument("--tolerance", action="append", default=[], metavar="METRIC=abs:X|rel:X",
                         help="change a metric's tolerance (repeatable; over the suite's [compare] table, "
                              "docs/regression-power.md); defaults: "
                              + ", ".join(f"{k} {next(iter(v))} {next(iter(v.values())):g}"
                                          for k, v in COMPARE_TOLERANCES.items()))
    compare.add_argument("--alpha", type=_fraction, default=0.05,
                         help="significance level of the paired tests (default 0.05)")
    compare.add_argument("--json", type=Path, metavar="FILE", help="also write the comparison as JSON here")
    compare.add_argument("--keep", type=Path, metavar="DIR",
                         help="keep the checkouts' stores and reports in DIR (a new or empty folder)")
    compare.add_argument("--allow-dirty", action="store_true",
                         help="compare the working tree with its uncommitted changes (refused by default)")
    _add_training_arguments(compare)
    compare.add_argument("--no-progress", action="store_true", help="no progress bar")

    tune = commands.add_parser(
        "tune", help="search a suite's hyper-parameters with Optuna; print the Pareto front",
        description="Run a (multi-objective) Optuna study over the search space in the suite's [tune] table. "
                    "Every trial's cells are recorded as rows of the suite '<study>'; the study lives in the "
                    "same store, so a rerun continues it.")
    tune.add_argument("suite", metavar="SUITE", help="suite TOML file or built-in suite name, with a [tune] table")
    tune.add_argument("--trials", type=_positive, metavar="N",
                      help="finished trials the study should hold (default: [tune] trials)")
    tune.add_argument("--objective", action="append", default=[], metavar="METRIC[:max|min]",
                      help="a metric to optimise (repeatable; default: [tune] objectives)")
    tune.add_argument("--study", metavar="NAME", help="study name, and suite of its rows (default <suite>-tune)")
    tune.add_argument("--sampler", choices=("nsga2", "tpe", "random"), help="default: [tune] sampler (nsga2)")
    _add_run_arguments(tune)

    merge = commands.add_parser(
        "merge", help="combine results stores (shards, machines) into one, without duplicates",
        description="Copy the rows of the stores into the store --into (created when missing), oldest first, "
                    "in one transaction. A row already there is not copied again; stores of different snnbench "
                    "versions are refused, with nothing written. A source may be a result file (*.json, written "
                    "by export-results): its rows come back into a store, without their kept models, so a later "
                    "run adds to them.",
        epilog="examples:\n  snnbench merge shard-1.db shard-2.db shard-3.db --into all.db\n"
               "  snnbench merge leaderboard/encoders-cpu.json --into runs/encoders.db",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    merge.add_argument("stores", nargs="+", type=Path, metavar="STORE",
                       help="results stores, or result files (*.json), to read")
    merge.add_argument("--into", type=Path, required=True, metavar="STORE", help="the store to write")
    _add_mkdir_argument(merge)

    remeasure = commands.add_parser(
        "remeasure", help="measure rows again from their kept models, without training (new rows)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Rebuild the kept model of each cell's newest ok row, put its random state back and measure "
                    "its test split again, recording a new row with the metrics the row lacked or held at an old "
                    "version (docs/models.md). Rows without a kept model are listed, never guessed; training "
                    "throughput and peak memory need a new training run.",
        epilog="examples:\n"
               "  snnbench remeasure --stale                       every family a row holds at an old version\n"
               "  snnbench remeasure --suite smoke --metric encoder_mean\n"
               "  snnbench remeasure --metric nir_agreement        the NIR round trip of every kept model")
    remeasure.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"results store (default {DEFAULT_DB})")
    remeasure.add_argument("--suite", action="append", default=[], help="only this suite (repeatable)")
    remeasure.add_argument("--metric", action="append", default=[], metavar="KEY",
                           help="measure this metric's family where a row lacks it or holds an old version "
                                "(repeatable)")
    remeasure.add_argument("--stale", action="store_true",
                           help="measure every family a row holds at an old version or lacks")
    _add_nir_arguments(remeasure)
    _add_data_arguments(remeasure)

    export_nir = commands.add_parser(
        "export", help="write a kept model as a NIR graph (--check: load it back into other tools, compare)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Write the trained network of a row as a NIR graph (nir.write, HDF5) for neuromorphic tools. "
                    "CELL is a row id (snnbench ls models lists them) or a label such as "
                    "mnist/direct/snntorch-lif/csnn/bptt (the newest ok row of that cell; --suite and --seed "
                    "choose among several). Networks of Linear, Conv, pooling, flatten and LIF/CubaLIF/IF "
                    "layers export; another names the layer that stops it.",
        epilog="example:\n  snnbench export mnist/direct/snntorch-lif/csnn/bptt --seed 0 --nir csnn.nir --check")
    export_nir.add_argument("cell", metavar="CELL", help="a row id, or a cell's label")
    export_nir.add_argument("--nir", type=Path, required=True, metavar="FILE", help="the NIR file to write")
    export_nir.add_argument("--check", action="store_true",
                            help="load the graph back into snnTorch (and Norse and SpikingJelly when installed), "
                                 "run the test split, report accuracy and per-layer spike agreement against "
                                 "snnbench's model, and record them as a new row (metric nir_agreement)")
    export_nir.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"results store (default {DEFAULT_DB})")
    export_nir.add_argument("--suite", help="with a label: the row's suite")
    export_nir.add_argument("--seed", type=int, help="with a label: the row's seed")
    _add_nir_arguments(export_nir)
    _add_data_arguments(export_nir)

    validate = commands.add_parser("validate", help="check suite files without running them")
    validate.add_argument("suites", nargs="+", metavar="SUITE", help="suite TOML files or built-in suite names")

    ls = commands.add_parser("ls", help="list registered components, their plugins and params")
    ls.add_argument("kind", nargs="?", help=f"one of {', '.join(PLUGIN_KINDS)} (plural works too), or models: "
                                            "the kept models of a store (--db) and their sizes")
    ls.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"with models: the results store (default {DEFAULT_DB})")
    ls.add_argument("--suites", action="store_true", help="list the built-in suites (snnbench run NAME) instead")

    board = commands.add_parser("leaderboard", help="print results as a table (mean ± std over seeds)")
    board.add_argument("--db", type=Path, default=DEFAULT_DB)
    board.add_argument("--suite", action="append", default=[], help="only this suite (repeatable)")
    board.add_argument("--by", action="append", default=[], metavar="COLUMN",
                       help="group by these columns (repeatable: dataset, encoder, neuron, architecture, "
                            "learning_rule, device_type); default: all of them")
    board.add_argument("--sort", default="accuracy", help="metric to sort by (default accuracy)")
    board.add_argument("--metric", action="append", default=[], help="show only these metrics (repeatable)")
    board.add_argument("--format", choices=("table", "md", "csv", "html", "json"), default="table",
                       help="table (default), md, csv, html (one self-contained page) or json (its schema: "
                            "docs/guide/report.md, \"Leaderboard JSON\")")
    board.add_argument("--compare", nargs=2, metavar=("A", "B"),
                       help="print A - B on every metric with its 95%% interval (Welch's t over seeds); "
                            "A and B are rows as the table names them, e.g. rate latency with --by encoder")
    board.add_argument("--alpha", type=_fraction, default=LEADERBOARD_ALPHA,
                       help="significance level of the verdicts against the best row (default 0.05; "
                            "docs/verdicts.md)")
    board.add_argument("--margin", action="append", default=[], metavar="METRIC=abs:X|rel:X",
                       help="the difference from the best within which a row counts as equivalent (≈ best), "
                            "repeatable; defaults: " + ", ".join(
                                f"{m.key} {next(iter(m.equivalence_margin))} "
                                f"{next(iter(m.equivalence_margin.values())):g}" for m in METRICS[:3])
                            + ", timings rel 0.1, others rel 0.05")
    board.add_argument("--include-contended", action="store_true",
                       help="keep timings measured while other processes used the machine in the means "
                            "(left out by default, and counted)")
    _add_suites_dir_argument(board)

    report = commands.add_parser(
        "report", help="write the leaderboard as a static site: tables, trade-off plots, cell details",
        description="Write a self-contained static site (index.html, a page per suite, a page per cell; "
                    "no network needed to view it) from the results store. --figures also writes every "
                    "plot as PNG and SVG.")
    report.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"results store (default {DEFAULT_DB})")
    report.add_argument("--suite", action="append", default=[], help="only this suite (repeatable)")
    report.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder to write the site to")
    report.add_argument("--figures", type=Path, metavar="DIR", help="also write every plot as PNG and SVG here")
    _add_suites_dir_argument(report)

    check = commands.add_parser("check", help="exit non-zero if results regressed against a baseline",
                                description="Compare the newest results with a committed baseline JSON "
                                            "file. Use --write to create that file from current results.")
    check.add_argument("--baseline", type=Path, required=True,
                       help="baseline JSON file, or the name of a suite whose baseline ships with snnbench "
                            "(smoke); with --write, the file to write")
    check.add_argument("--db", type=Path, action="append", default=[],
                       help=f"results store (default {DEFAULT_DB}); repeat to pool the seeds of several "
                            "stores, e.g. runs of one suite on several machines, into one baseline")
    check.add_argument("--suite", action="append", default=[], help="only this suite (repeatable)")
    check.add_argument("--write", action="store_true",
                       help="write the baseline from the current results instead of checking")
    check.add_argument("--alpha", type=_fraction, default=None,
                       help="with --write: the significance level the gate tests at (default 0.05)")
    check.add_argument("--tolerance", action="append", default=[], metavar="METRIC=abs:X|rel:X",
                       help="with --write: gate these metrics with these tolerances (repeatable; default: "
                            + ", ".join(f"{k} {next(iter(v))} {next(iter(v.values())):g}"
                                        for k, v in GATE_TOLERANCES.items()) + ")")

    export = commands.add_parser(
        "export-results", help="write a store's newest rows as a result file, with the command that made them",
        description="Write the newest rows of the suites as a result file (JSON, format snnbench-results/1): "
                    "the rows as the store holds them, the machines, commits and dates they record, and the "
                    "command that produced them. The docs render their tables from such files in leaderboard/.",
        epilog="example:\n  snnbench export-results --db enc.db --suite encoders-cpu "
               "--command 'snnbench run encoders-cpu --db enc.db' --out leaderboard/encoders-cpu.json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    export.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"results store (default {DEFAULT_DB})")
    export.add_argument("--suite", action="append", default=[], help="only this suite (repeatable)")
    export.add_argument("--command", dest="produced_by", required=True, metavar="TEXT",
                        help="the command that produced the rows, as a reader would run it again")
    export.add_argument("--out", type=Path, required=True, metavar="FILE", help="the result file to write")

    history = commands.add_parser(
        "history", help="a suite's metrics over the commits its rows came from, with the steps marked",
        description="Follow each metric of each cell of a suite over the commits its rows record (run the suite "
                    "with --rerun into one store at each commit), one series per machine, in git order, and mark "
                    "where a step begins (circular binary segmentation with a permutation test; docs/history.md).",
        epilog="example:\n  snnbench history --db history.db --suite smoke --metric train_samples_per_s "
               "--html report/",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    history.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"results store (default {DEFAULT_DB})")
    history.add_argument("--suite", required=True, help="the suite to follow")
    history.add_argument("--metric", action="append", default=[], help="only these metrics (repeatable)")
    history.add_argument("--repo", type=Path, metavar="DIR",
                         help="the git repository whose order the commits take (default: the one here, if any; "
                              "else the order the rows were written in)")
    history.add_argument("--changed", action="store_true", help="show only cells with a step")
    history.add_argument("--alpha", type=_fraction, default=0.01,
                         help="significance level of each step's permutation test (default 0.01)")
    history.add_argument("--include-contended", action="store_true",
                         help="keep timings measured while other processes used the machine (left out by default)")
    history.add_argument("--html", type=Path, metavar="DIR", help="also write the page history-SUITE.html here")

    status = commands.add_parser(
        "status", help="cells in flight in a store: held by a live run, or saved mid-training to resume",
        description="List the store's unfinished cells: those a live run trains now, and those a stopped run "
                    "saved at the end of an epoch (STORE.checkpoints), with the epochs saved, the training time, "
                    "an estimate of the time left and the last epoch's loss and accuracy. Reads only.",
        epilog="example:\n  snnbench status --db runs/spikformer.db",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    status.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"results store (default {DEFAULT_DB})")
    return parser


def _add_suites_dir_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--suites-dir", type=Path, metavar="DIR",
                        help="where the suite files are, for their [[reference]] numbers (default: the built-in "
                             "suites, and ./suites/ where it exists)")


def _add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the commands that train cells into a store (run, tune)."""
    parser.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"results store (default {DEFAULT_DB})")
    _add_mkdir_argument(parser)
    _add_training_arguments(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress bars, only a line per cell")


def _add_mkdir_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mkdir", action="store_true",
                        help="create the store's folder when it is missing (the default store's is created anyway)")


def _store_folder(path: Path, asked: bool) -> None:
    """The default store's folder is snnbench's own to create; another path's
    only when ``--mkdir`` asks, since a mistyped path would otherwise be
    created and filled in silence."""
    if asked or path == DEFAULT_DB:
        make_store_folder(path)


def _note_new_store(path: Path, new: bool) -> None:
    """One line when a command made a new store, so a mistyped path is seen
    at once rather than when its rows are missing from the real store."""
    if new:
        print(f"snnbench: new results store {path}", file=sys.stderr)


def _add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """Where and how much cells train (run, tune, compare)."""
    parser.add_argument("--device", default="auto", help="auto (CUDA if present, else CPU), cpu, cuda, cuda:N")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="where datasets live (default $SNNBENCH_DATA or ./data)")
    parser.add_argument("--no-download", action="store_true", help="never download; fail if files are missing")
    parser.add_argument("--limit", type=_positive, metavar="N",
                        help="use at most N training and N test samples: a quick check that a suite runs, not "
                             "a comparison (a capped run may learn nothing: its cells say AT CHANCE)")
    parser.add_argument("--epochs", type=_positive, metavar="N", help="train at most N epochs")


def _run_options(args, device=None):
    """The RunOptions the command line asks for (on ``device`` when an
    executor chose it); prints where the run goes."""
    from snnbench.running.checkpoints import checkpoint_folder
    from snnbench.running.options import RunOptions
    from snnbench.runtime import data_root, device_name, resolve_device

    device = device or resolve_device(args.device)
    options = RunOptions(device=device, data_dir=data_root(args.data_dir), download=not args.no_download,
                         rerun=getattr(args, "rerun", False), limit=args.limit, max_epochs=args.epochs,
                         keep_models=not getattr(args, "no_keep_models", False),
                         progress=False if args.no_progress else None,
                         checkpoint_dir=checkpoint_folder(args.db))
    print(f"snnbench {__version__}: device {device} ({device_name(device)}), data {options.data_dir}, "
          f"store {args.db}")
    return options


def _non_negative(text: str) -> int:
    return _positive(text, minimum=0)


def _positive(text: str, minimum: int = 1) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"{value} must be at least {minimum}")
    return value


def _shard(text: str):
    from snnbench.running.shards import Shard

    try:
        return Shard.parse(text)
    except SnnbenchError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _seeds(text: str) -> tuple[int, ...]:
    """``0-9`` or ``0,1,2`` (or both: ``0-4,10``)."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            first, dash, last = part.strip().partition("-")
            seeds += list(range(int(first), int(last) + 1)) if dash else [int(first)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give seeds as 0-9 or 0,1,2") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"{text!r}: give each seed once, at least one")
    return tuple(seeds)


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{value} must lie between 0 and 1")
    return value


def _warn(warnings) -> None:
    for warning in warnings:
        print(f"snnbench: warning: {warning}", file=sys.stderr)


def _plugins(args) -> PluginSet:
    plugins = load_plugins(args.plugin)
    for problem in [*plugins.failures, *plugins.warnings]:
        print(f"snnbench: warning: {problem}", file=sys.stderr)
    return plugins


def cmd_validate(args) -> int:
    from snnbench.definition.catalog import suite_path
    from snnbench.definition.suite import read_suite
    from snnbench.definition.tune_space import load_search

    plugins = _plugins(args)
    for path in args.suites:
        document = read_suite(suite_path(path))
        suite = document.build(plugins.registries)
        _warn(suite.warnings)
        print(f"{path}: ok: suite {suite.name!r}, {len(suite.cells)} cells "
              f"({len(suite.cells) // len(suite.seeds)} combinations x {len(suite.seeds)} seeds), "
              f"{len(suite.skipped)} skipped")
        for skipped in suite.skipped:
            print(f"  skip {skipped.label}: {skipped.reason}")
        if "tune" in document.data:
            search = load_search(document, plugins.registries)
            print(f"  tune: {len(search.space)} dimensions: "
                  + "; ".join(f"{p} {d.describe()}" for p, d in search.space.items()))
    return 0


def _with_seeds(document, seeds: tuple[int, ...] | None, plugins: PluginSet):
    """The suite of ``document``, with ``seeds`` in place of its own when given."""
    if seeds is None:
        return document.build(plugins.registries)
    header = document.data.get("suite") if isinstance(document.data.get("suite"), dict) else {}
    return document.build(plugins.registries, document.data | {"suite": header | {"seeds": list(seeds)}})


def cmd_run(args) -> int:
    from snnbench.definition.catalog import suite_path
    from snnbench.definition.reporters import with_reporters
    from snnbench.definition.suite import read_suite

    if args.executor != "ray" and (args.address or args.cpus_per_cell != 1 or args.retries != 1):
        raise SnnbenchError("--address, --cpus-per-cell and --retries are for --executor ray")
    plugins = _plugins(args)
    suites = [with_reporters(_with_seeds(read_suite(suite_path(path)), args.seeds, plugins), args.report,
                             plugins.registries, suite_tables=not args.no_report)
              for path in args.suites]  # all validate first
    _warn(warning for suite in suites for warning in suite.warnings)
    if args.only:
        from snnbench.definition.cell_filter import CellFilter

        only = CellFilter.parse(args.only)
        suites = [only.of(suite) for suite in suites]
    if args.shard:
        parts = [args.shard.of(suite) for suite in suites]
        for whole, part in zip(suites, parts):
            print(f"shard {args.shard}: {len(part.cells)} of the suite's {len(whole.cells)} cells ({whole.name})")
        suites = parts
    executor = _ray_executor(args) if args.executor == "ray" else None
    try:
        return _run_suites(args, plugins, suites, executor)
    finally:
        if executor is not None:
            executor.close()


def _ray_executor(args):
    """The Ray executor the command line asks for, connected (nothing is
    recorded before an unreachable cluster is refused)."""
    try:
        from snnbench.running.ray_executor import RayExecutor
    except ImportError as error:
        if error.name != "ray" and not (error.name or "").startswith("ray."):
            raise
        raise SnnbenchError("--executor ray needs Ray: pip install 'snnbench[ray]'") from None
    executor = RayExecutor.connect(args.address, args.device, args.cpus_per_cell, args.retries)
    print(executor.describe())
    return executor


def _run_suites(args, plugins: PluginSet, suites, executor) -> int:
    from snnbench.results.verdicts import chance_warning
    from snnbench.running.preflight import check_datasets
    from snnbench.running.runner import Runner

    options = _run_options(args, executor.device if executor else None)
    if not args.address:  # a cluster's nodes may hold data this machine lacks: each cell finds out there
        check_datasets(suites, plugins.registries, options.data_dir, options.download)
    exit_code = 0
    _store_folder(args.db, args.mkdir)
    with ResultStore(args.db) as store:
        _note_new_store(args.db, store.created)
        runner = Runner(plugins, store, options, executor=executor)
        for suite in suites:
            summary = runner.run(suite)
            print(f"suite {suite.name}: {summary.ok} ok, {summary.failed} failed, " + (
                      f"{summary.code_changed} of them run again as their code changed, "
                      if summary.code_changed else "")
                  + f"{summary.cached} already recorded, " + (
                      f"{summary.elsewhere} run by another process, " if summary.elsewhere else "")
                  + f"{summary.skipped} skipped as incompatible")
            warning = chance_warning(bool(row.metrics.get("at_chance")) for row in summary.rows if row.status == "ok")
            if warning:
                print(f"snnbench: warning: suite {suite.name}: {warning}", file=sys.stderr)
            exit_code = max(exit_code, summary.exit_code)
    if options.keep_models:
        from snnbench.results.models import ModelFolder

        with ResultStore(args.db, create=False) as store:
            print(f"kept models: {ModelFolder(args.db).summary(store.rows()).line()}")
    if exit_code:
        print("some cells failed; their errors are recorded in the store "
              "(snnbench leaderboard lists them)", file=sys.stderr)
    return exit_code


def cmd_merge(args) -> int:
    from snnbench.results.merge import merge_stores

    _store_folder(args.into, args.mkdir)
    new = not args.into.exists()
    summary = merge_stores(args.stores, args.into)
    _note_new_store(args.into, new)
    for source in summary.sources:
        kept = ("a result file: no kept models" if source.result_file else f"{source.models} kept model(s)"
                + (f", {len(source.missing_models)} missing from its models folder" if source.missing_models else ""))
        print(f"{source.path}: {source.rows} rows, {source.added} new, {kept}")
    print(f"{summary.into}: {summary.total} rows")
    return 0


def cmd_ls(args) -> int:
    if args.suites:
        if args.kind:
            raise SnnbenchError(f"ls --suites lists the built-in suites: leave out {args.kind!r}")
        return _ls_suites()
    if args.kind == "models":
        return _ls_models(args)
    plugins = _plugins(args)
    kinds = list(PLUGIN_KINDS)
    if args.kind:
        kind = KIND_ALIASES.get(args.kind, args.kind)
        if kind not in PLUGIN_KINDS:
            suggestion = did_you_mean(args.kind, [*PLUGIN_KINDS, *KIND_ALIASES])
            raise SnnbenchError(f"unknown component kind {args.kind!r}" + (
                f"; did you mean {suggestion!r}?" if suggestion else f"; choose from {', '.join(PLUGIN_KINDS)}"))
        kinds = [kind]
    for kind in kinds:
        print(f"{kind}s:")
        for entry in plugins.registries[kind]:
            spec = entry.spec
            accepts = getattr(spec, "accepts", None)
            extra = []
            if accepts is not None:
                extra.append(f"accepts {', '.join(sorted(accepts))}")
            if kind == "dataset":
                info = spec.describe(spec.params())
                extra.append(f"{info.kind} {list(info.input_shape)}, {info.n_classes} classes")
            if getattr(spec, "trainable", False):
                extra.append("trainable")
            if kind == "learning_rule":
                extra.append("trains " + (", ".join(sorted(spec.architectures)) if spec.architectures else "any"))
            if kind == "reporter" and spec.unavailable():
                extra.append(f"not installed: pip install '{spec.install}'" if spec.install
                             else spec.unavailable())
            print(f"  {entry.name:<18} {spec.summary}")
            print(f"  {'':<18} plugin {entry.plugin} ({entry.version})" + (f"; {'; '.join(extra)}" if extra else ""))
            for param in describe_params(spec.params):
                kind_and_range = ", ".join(filter(None, (param["type"], param["range"])))
                print(f"  {'':<20}{param['name']} = {param['default']}  ({kind_and_range}) {param['help']}")
        print()
    return 0


def cmd_leaderboard(args) -> int:
    from snnbench.results.gate import parse_tolerance
    from snnbench.results.leaderboard import (
        GROUP_COLUMNS,
        aggregate,
        board_json,
        build_board,
        check_grouping,
        compare_groups,
        latest_results,
        render,
        render_failures_only,
    )

    by = args.by or list(GROUP_COLUMNS)
    check_grouping(by)
    margins = dict(parse_tolerance(text, flag="--margin") for text in args.margin)
    with ResultStore(args.db, create=False) as store:
        _check_suites(store, args.suite)
        results = latest_results(store.rows(args.suite))
        suites = args.suite or store.suites()
    references = _references(args.suites_dir, suites)
    if results.ok.empty and args.compare:
        raise SnnbenchError("--compare: no successful results to compare")
    table = None if results.ok.empty else aggregate(results.ok, by, include_contended=args.include_contended)
    if args.format in ("html", "json") or args.compare:
        board = None if table is None else build_board(table, by, args.sort, args.metric or None, references,
                                                       args.alpha, margins)
        if args.compare:
            print(compare_groups(board, *args.compare))
        elif args.format == "json":
            print(json.dumps(board_json(board, results, suites), indent=2, allow_nan=False))
        else:
            from snnbench.results.report.html import leaderboard_page

            print(leaderboard_page(board, results, f"snnbench leaderboard: {', '.join(suites)}"), end="")
    elif table is None:
        print(render_failures_only(results, by, args.format, args.suite))
    else:
        print(render(table, by, sort=args.sort, fmt=args.format, metrics=args.metric or None,
                     references=references, alpha=args.alpha, margins=margins, results=results))
    if args.format in ("table", "md"):
        _notes(results)
    return 0


def _ls_suites() -> int:
    from snnbench.definition.catalog import SUITES, builtin_baselines, builtin_suites

    suites, baselines = builtin_suites(), builtin_baselines()
    print(f"built-in suites (snnbench run NAME; their files are in {SUITES}):")
    for name, document in sorted(suites.items()):
        header = document.data.get("suite") if isinstance(document.data.get("suite"), dict) else {}
        print(f"  {name:<22} {header.get('description', '')}")
        print(f"  {'':<22} {document.path.name}" + (
            f"; baseline ships: snnbench check --baseline {name}" if name in baselines else ""))
    return 0


def _suite_files(suites_dir: Path | None) -> dict:
    """The suite files by name, for their [[reference]] numbers: those in
    ``suites_dir``, or by default the built-in suites and ./suites/ (whose
    file wins where both have a suite of one name)."""
    from snnbench.definition.catalog import builtin_suites
    from snnbench.definition.suite import find_suite_files

    if suites_dir is not None:
        return find_suite_files(suites_dir)
    return builtin_suites() | find_suite_files(Path("suites"))


def _references(suites_dir: Path | None, suites: Sequence[str]) -> list:
    """The [[reference]] entries of the suite files for ``suites`` (see
    :func:`_suite_files`), each once however many suites copy it (a bf16 twin
    of a suite does); a reference that does not validate is an error naming
    its file and key."""
    files = _suite_files(suites_dir)
    return list(dict.fromkeys(reference for name in suites if name in files
                              for reference in files[name].references()))


def cmd_report(args) -> int:
    from snnbench.results.report import write_report

    if importlib.util.find_spec("vl_convert") is None:  # an extra: `make run` installs the main job's needs only
        raise SnnbenchError("snnbench report needs vl-convert, which is not installed: "
                            "pip install 'snnbench[report]' (in this checkout: make extra-report)")
    with ResultStore(args.db, create=False) as store:
        _check_suites(store, args.suite)
        written = write_report(store, args.suite, args.out, suite_files=_suite_files(args.suites_dir),
                               figures=args.figures, write_nir=_nir_writer(args))
        empty = not store.suites()
    print(f"wrote {written.pages} page(s) to {args.out} in {written.seconds:.1f} s"
          + (f", {written.figures} figure(s) as PNG and SVG to {args.figures}" if args.figures else "")
          + (f"; open {args.out / 'index.html'}" if not empty else
             f"; the store {args.db} holds no results yet: run a suite first"))
    return 0


def _nir_writer(args):
    """What writes a kept model's NIR graph into a report: the running stage
    builds the network, with this command's plugins."""
    from snnbench.running.nir_export import write_kept

    plugins = _plugins(args)
    return lambda data, where, target: write_kept(data, where, plugins, target)


def _notes(results) -> None:
    if results.stale:
        print(f"\n{results.stale} result(s) computed with an older metric definition were left out; "
              "snnbench remeasure --stale refreshes those whose models were kept, and a run with --rerun "
              "the others.", file=sys.stderr)


def _check_suites(store: ResultStore, suites: Sequence[str]) -> None:
    known = store.suites()
    for suite in suites:
        if suite not in known:
            suggestion = did_you_mean(suite, known)
            raise SnnbenchError(f"no results for suite {suite!r} in {store.path}" + (
                f"; did you mean {suggestion!r}?" if suggestion else f"; recorded: {', '.join(known) or 'none'}"))


def _check_same_suites(baseline, results, path: Path) -> None:
    """A baseline of suites that none of the results belong to is a mix-up
    (the wrong file, or the wrong --suite), not a set of regressions."""
    wanted = {entry["suite"] for entry in baseline["entries"]}
    present = set(results.ok["suite"]) | set(results.failed["suite"])
    if not wanted & present:
        raise SnnbenchError(f"{path} is a baseline of suite(s) {', '.join(sorted(wanted))}, and the results hold "
                            f"{', '.join(sorted(present)) or 'no result'}: a baseline from another suite?")


def cmd_check(args) -> int:
    from snnbench.definition.catalog import baseline_path
    from snnbench.results.gate import (
        DEFAULT_ALPHA,
        compare,
        load_baseline,
        make_baseline,
        parse_tolerance,
        report,
        unique_machines,
    )
    from snnbench.results.leaderboard import latest_results, pooled

    stores = []
    for path in args.db or [DEFAULT_DB]:
        with ResultStore(path, create=False) as store:
            _check_suites(store, args.suite)
            stores.append(latest_results(store.rows(args.suite)))
    results = pooled(stores)
    machines = unique_machines(results.machines)
    if args.write:
        if results.ok.empty:
            raise SnnbenchError("no successful results to make a baseline from")
        tolerances = dict(parse_tolerance(text) for text in args.tolerance) or None
        baseline = make_baseline(results.ok, machines, tolerances, alpha=args.alpha or DEFAULT_ALPHA)
        args.baseline.parent.mkdir(parents=True, exist_ok=True)
        args.baseline.write_text(json.dumps(baseline, indent=2) + "\n")
        print(f"wrote {args.baseline}: {len(baseline['entries'])} cells from {len(results.ok)} rows "
              f"on {len(machines)} machine(s)")
        busy = int(results.ok["contended"].fillna(False).astype(bool).sum())
        if busy:
            print(f"the timings of {busy} row(s) are not in it: they were taken while other processes used "
                  "the machine (a cell with none left has no timing to judge)")
        return 0
    if args.alpha is not None or args.tolerance:
        raise SnnbenchError("--alpha and --tolerance are set when a baseline is written (--write); to change "
                            f"them, edit \"alpha\" and \"tolerances\" in {args.baseline}")
    baseline = load_baseline(baseline_path(args.baseline))
    _check_same_suites(baseline, results, args.baseline)
    findings = compare(results.ok, baseline, machines)
    print(report(findings, baseline, machines))
    regressed = [f for f in findings if f.regressed]
    if regressed:
        print(f"\n{len(regressed)} regression(s) against {args.baseline}", file=sys.stderr)
        return 1
    judged = sum(f.verdict == "ok" for f in findings)
    print(f"\nno regression against {args.baseline} ({judged} checks passed, "
          f"{len(findings) - judged} not judged)")
    return 0


def cmd_compare(args) -> int:
    from snnbench.comparison.checkout import repository_root
    from snnbench.comparison.compare import (
        NEURON_RATE,
        CompareOptions,
        detection_summary,
        neuron_benchmarks_repository,
        progress_to_stderr,
        render,
        run_comparison,
        write_json,
    )
    from snnbench.definition.catalog import suite_path
    from snnbench.definition.compare_table import compare_tolerances
    from snnbench.definition.suite import read_suite
    from snnbench.results.gate import parse_tolerance
    from snnbench.runtime import data_root, resolve_device

    if (args.suite is None) == (not args.neurons):
        raise SnnbenchError("give a SUITE file or --neurons (not both)" if args.suite else
                            "give a SUITE file to compare, or --neurons for the neuron benchmarks")
    if args.select and not args.neurons:
        raise SnnbenchError("-k chooses neuron benchmarks: use it with --neurons")
    if args.neurons and args.seeds:
        raise SnnbenchError("--seeds chooses a suite's seeds: the neuron benchmarks have none")
    if args.neurons and args.repeats == 0:
        raise SnnbenchError("--repeats 0 leaves the neuron benchmarks nothing to compare: give 1 or more")
    suite = suite_path(args.suite) if args.suite is not None else None
    tolerances = dict(COMPARE_TOLERANCES)
    if suite is not None:
        document = read_suite(suite)
        document.build(_plugins(args).registries)  # the head's copy validates before anything runs
        tolerances.update(compare_tolerances(document.data, document.source))  # its [compare] table
    resolve_device(args.device)
    tolerances.update(parse_tolerance(text, extra_keys=[NEURON_RATE]) for text in args.tolerance)
    run_arguments = ["--data-dir", str(data_root(args.data_dir).resolve()), "--device", args.device]
    run_arguments += ["--no-download"] if args.no_download else []
    run_arguments += ["--limit", str(args.limit)] if args.limit else []
    run_arguments += ["--epochs", str(args.epochs)] if args.epochs else []
    options = CompareOptions(
        repository=(neuron_benchmarks_repository if args.neurons else repository_root)(Path.cwd()),
        base_ref=args.base,
        suite=suite, select=args.select, seeds=args.seeds, repeats=args.repeats, tolerances=tolerances,
        alpha=args.alpha,
        run_arguments=tuple(run_arguments), allow_dirty=args.allow_dirty, keep=args.keep,
        progress=False if args.no_progress else None)
    comparison = run_comparison(options, say=progress_to_stderr)
    print(render(comparison))
    if args.json:
        write_json(comparison, args.json)
        print(f"\nwrote {args.json}")
    detection = detection_summary(comparison)
    if detection:
        print(f"\n{detection}")
    if comparison.timing_refused:
        print(f"\nsnnbench: error: {comparison.timing_refused}", file=sys.stderr)
    if comparison.regressions:
        print(f"\n{comparison.regressions} regression(s) of the head against {args.base}", file=sys.stderr)
        return 1
    if comparison.timing_refused:
        return 2
    print(f"\nno regression against {args.base}")
    return 0


def cmd_tune(args) -> int:
    from snnbench.definition.catalog import suite_path
    from snnbench.definition.suite import read_suite
    from snnbench.definition.tune_space import load_search
    from snnbench.running.preflight import check_datasets
    from snnbench.running.tune import tune

    plugins = _plugins(args)
    search = load_search(read_suite(suite_path(args.suite)), plugins.registries)  # validates before anything runs
    options = _run_options(args)
    check_datasets([search.suite], plugins.registries, options.data_dir, options.download)
    _store_folder(args.db, args.mkdir)
    _note_new_store(args.db, not args.db.exists())
    return tune(search, plugins, options, args.db, trials=args.trials, objectives=args.objective,
                study_name=args.study, sampler=args.sampler)


def cmd_status(args) -> int:
    from snnbench.running.in_flight import named, render, unfinished_cells

    with ResultStore(args.db, create=False) as store:
        cells = unfinished_cells(store)
    if any(cell.label is None for cell in cells):
        documents, registries = _suite_files(None), _plugins(args).registries

        def labels(suite: str) -> dict[str, str]:
            try:
                return {cell.config_hash: cell.label for cell in documents[suite].build(registries).cells}
            except (KeyError, SnnbenchError):  # not a suite here, or one that no longer validates
                return {}

        cells = named(cells, labels)
    print(render(cells, args.db))
    return 0


def cmd_history(args) -> int:
    from snnbench.results.history import load_history, render

    with ResultStore(args.db, create=False) as store:
        _check_suites(store, [args.suite])
        rows = store.rows([args.suite])
    repository = args.repo or Path.cwd()
    history = load_history(rows, args.suite, args.metric or None, repository=repository,
                           include_contended=args.include_contended, alpha=args.alpha)
    print(render(history, changed_only=args.changed))
    if args.html:
        from snnbench.results.report.history_page import write_history_page

        print(f"\nwrote {write_history_page(history, args.html)}")
    return 0


def cmd_export_results(args) -> int:
    from snnbench.results.result_file import export_results, write_result_file

    with ResultStore(args.db, create=False) as store:
        _check_suites(store, args.suite)
        content = export_results(store, args.suite, args.produced_by)
    write_result_file(content, args.out)
    print(f"wrote {len(content['rows'])} row(s) of {', '.join(content['suites'])} to {args.out}")
    return 0


def _add_nir_arguments(parser: argparse.ArgumentParser) -> None:
    from snnbench.running.nir_export import DEFAULT_DT

    parser.add_argument("--dt", type=float, default=DEFAULT_DT, metavar="SECONDS",
                        help=f"seconds per step when neurons become NIR's continuous ones (default {DEFAULT_DT:g}, "
                             "which snnTorch's import_from_nir assumes)")


def _add_data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="where datasets live (default $SNNBENCH_DATA or ./data)")
    parser.add_argument("--no-download", action="store_true", help="never download; fail if files are missing")


def _writable_store(path: Path) -> ResultStore:
    """An existing store opened to add rows to (commands that never create one)."""
    if not path.exists():
        raise SnnbenchError(f"no results store at {path}: run a suite first, or pass --db")
    return ResultStore(path)


def cmd_remeasure(args) -> int:
    from snnbench.running.remeasure import Remeasurer, plan
    from snnbench.runtime import data_root

    plugins = _plugins(args)
    with _writable_store(args.db) as store:
        _check_suites(store, args.suite)
        wanted = plan(store.rows(args.suite), args.metric, args.stale)
        summary = Remeasurer(store, plugins, data_root(args.data_dir), not args.no_download).run(wanted, args.dt)
    for item in summary.not_kept:
        print(f"no kept model: {item.name}: {', '.join(item.families)} not measured (it trained before models "
              "were kept, or with --no-keep-models; snnbench run --rerun trains it again)")
    for item in summary.needs_training:
        print(f"still stale: {item.name}: {', '.join(item.needs_training)} is measured while training "
              "(snnbench run --rerun)")
    for item, reason in summary.failed:
        print(f"failed: {item.name}: {reason}", file=sys.stderr)
    print(f"remeasure: {len(summary.recorded)} new row(s) in {args.db}; {len(summary.not_kept)} row(s) without a "
          f"kept model, {len(summary.needs_training)} needing training, {len(summary.failed)} failed"
          + ("" if wanted else " (nothing to measure: every row is current)"))
    return summary.exit_code


def cmd_export(args) -> int:
    import torch

    from snnbench.results.models import ModelRef, select_row
    from snnbench.running.nir_export import to_nir, write
    from snnbench.running.remeasure import Remeasurer, Wanted
    from snnbench.runtime import data_root

    plugins = _plugins(args)
    with (_writable_store(args.db) if args.check else ResultStore(args.db, create=False)) as store:
        row = select_row(store.rows(), args.cell, args.suite, args.seed)
        ref = ModelRef.of_row(row)
        remeasurer = Remeasurer(store, plugins, data_root(args.data_dir), not args.no_download)
        rebuilt = remeasurer.rebuilt(row, torch.device("cpu"))
        exported = to_nir(rebuilt.model.network, rebuilt.step_shape, args.dt, metadata={
            "suite": row["suite"], "cell": row["label"], "seed": str(row["seed"]), "config_hash": row["config_hash"],
            "model_file": ref.file, "input": "the cell's encoder output, one step"})
        write(exported, args.nir)
        print(f"wrote {args.nir}: {row['label']} seed={row['seed']} (row {row['id']}), {args.dt:g} s per step\n"
              + exported.describe())
        if not args.check:
            return 0
        new = remeasurer.measure_row(Wanted(row, ["nir"]), args.dt)
        store.record(new)
    agreement = new.metrics["nir_agreement"]
    print(f"recorded a new row of {row['label']} seed={row['seed']} with nir_agreement "
          + (f"{agreement:.6f}" if agreement is not None else "null (no framework ran the graph)"))
    return 0


def _ls_models(args) -> int:
    """``snnbench ls models``: each kept model, its row and size, and the folder's totals."""
    from snnbench.results.models import ModelFolder, ModelRef, megabytes

    with ResultStore(args.db, create=False) as store:
        rows = store.rows()
    summary = ModelFolder(args.db).summary(rows)
    for row in rows:
        ref = ModelRef.of_row(row)
        if row["status"] == "ok" and ref is not None:
            print(f"  row {row['id']:>5}  {row['suite']}  {row['label']} seed={row['seed']} {row['device_type']}  "
                  f"{ref.file}  {megabytes(ref.bytes)}")
    for row_id, file in summary.missing:
        print(f"missing: row {row_id}: {file}", file=sys.stderr)
    for file in summary.unreferenced:
        print(f"no row names: {file}", file=sys.stderr)
    print(summary.line())
    return 0


COMMANDS = {"run": cmd_run, "remeasure": cmd_remeasure, "export": cmd_export, "merge": cmd_merge, "validate": cmd_validate, "ls": cmd_ls, "leaderboard": cmd_leaderboard,
            "report": cmd_report,
            "check": cmd_check, "compare": cmd_compare, "tune": cmd_tune, "export-results": cmd_export_results,
            "history": cmd_history, "status": cmd_status}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except SnnbenchError as error:
        print(f"snnbench: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:
        how, code = ("stopped by SIGTERM", 128 + signal.SIGTERM) if isinstance(interrupt, Terminated) else (
            "interrupted", 130)
        print(f"\nsnnbench: {how}; every finished cell is recorded, and a cell stopped mid-training keeps its "
              f"last saved epoch: rerun to resume", file=sys.stderr)
        return code
    except BrokenPipeError:  # the reader stopped reading (snnbench ls | head): nothing went wrong here
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


class Terminated(KeyboardInterrupt):
    """SIGTERM, as a scheduler preempting a job or ``kill`` sends it: stopped
    as Ctrl-C stops a run (claims released, a line saying what is kept)
    rather than killed without a word."""


def _terminated(signum: int, frame: object) -> None:
    raise Terminated


def console_main() -> int:
    """The ``snnbench`` command: :func:`main` in a process of its own, so it may
    set the process's allocator for large CPU tensors
    (:mod:`snnbench.running.host_memory`) and its SIGTERM handling, which a
    caller of :func:`main` keeps."""
    reuse_freed_host_memory()
    signal.signal(signal.SIGTERM, _terminated)
    return main()


if __name__ == "__main__":
    sys.exit(console_main())
