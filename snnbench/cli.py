"""The ``snnbench`` command: run | validate | ls | leaderboard | check | tune.

Bad input never ends in a traceback: every user error is one line naming
the file, key and value, with a non-zero exit (2 for bad input, 1 for failed
cells or a regression).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from snnbench import __version__
from snnbench.components import KINDS
from snnbench.errors import SnnbenchError, did_you_mean
from snnbench.params import describe_params
from snnbench.plugins import PluginSet, load_plugins
from snnbench.store import DEFAULT_DB, ResultStore

EPILOG = """examples:
  snnbench run suites/smoke.toml                 train and measure every cell, record to the leaderboard
  snnbench run suites/encoders.toml --limit 2000 --epochs 1    a reduced run for a CPU
  snnbench leaderboard --suite encoders --by encoder
  snnbench check --baseline leaderboard/baseline-smoke.json    exit 1 on a regression
  snnbench tune suites/tune-demo.toml --trials 6 --objective accuracy:max --objective encoder_density:min

environment:
  SNNBENCH_DATA                      data directory (default ./data); --data-dir overrides
  SNNBENCH_DISABLE_PLUGIN_AUTOLOAD=1 load only snnbench's built-in plugins
  SNNBENCH_LOAD_PLUGINS=a,b          load only these third-party plugins
"""

KIND_ALIASES = {"datasets": "dataset", "encoders": "encoder", "neurons": "neuron", "neuron_models": "neuron",
                "architectures": "architecture", "learning_rules": "learning_rule",
                "learning-rules": "learning_rule", "learning-rule": "learning_rule", "rules": "learning_rule"}


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
                                          "cell and seed. Cells already recorded as ok are skipped.")
    run.add_argument("suites", nargs="+", type=Path, metavar="SUITE", help="suite TOML files")
    run.add_argument("--rerun", action="store_true", help="run cells again even if recorded as ok")
    _add_run_arguments(run)

    tune = commands.add_parser(
        "tune", help="search a suite's hyper-parameters with Optuna; print the Pareto front",
        description="Run a (multi-objective) Optuna study over the search space in the suite's [tune] table. "
                    "Every trial's cells are recorded as rows of the suite '<study>'; the study lives in the "
                    "same store, so a rerun continues it.")
    tune.add_argument("suite", type=Path, metavar="SUITE", help="suite TOML file with a [tune] table")
    tune.add_argument("--trials", type=_positive, metavar="N",
                      help="finished trials the study should hold (default: [tune] trials)")
    tune.add_argument("--objective", action="append", default=[], metavar="METRIC[:max|min]",
                      help="a metric to optimise (repeatable; default: [tune] objectives)")
    tune.add_argument("--study", metavar="NAME", help="study name, and suite of its rows (default <suite>-tune)")
    tune.add_argument("--sampler", choices=("nsga2", "tpe", "random"), help="default: [tune] sampler (nsga2)")
    _add_run_arguments(tune)

    validate = commands.add_parser("validate", help="check suite files without running them")
    validate.add_argument("suites", nargs="+", type=Path, metavar="SUITE")

    ls = commands.add_parser("ls", help="list registered components, their plugins and params")
    ls.add_argument("kind", nargs="?", help=f"one of {', '.join(KINDS)} (plural works too)")

    board = commands.add_parser("leaderboard", help="print results as a table (mean ± std over seeds)")
    board.add_argument("--db", type=Path, default=DEFAULT_DB)
    board.add_argument("--suite", action="append", default=[], help="only this suite (repeatable)")
    board.add_argument("--by", action="append", default=[], metavar="COLUMN",
                       help="group by these columns (repeatable: dataset, encoder, neuron, architecture, "
                            "learning_rule, device_type); default: all of them")
    board.add_argument("--sort", default="accuracy", help="metric to sort by (default accuracy)")
    board.add_argument("--metric", action="append", default=[], help="show only these metrics (repeatable)")
    board.add_argument("--format", choices=("table", "md", "csv"), default="table")

    check = commands.add_parser("check", help="exit non-zero if results regressed against a baseline",
                                description="Compare the newest results with a committed baseline JSON "
                                            "file. Use --write to create that file from current results.")
    check.add_argument("--baseline", type=Path, required=True, help="baseline JSON file")
    check.add_argument("--db", type=Path, default=DEFAULT_DB)
    check.add_argument("--suite", action="append", default=[], help="only this suite (repeatable)")
    check.add_argument("--write", action="store_true",
                       help="write the baseline from the current results instead of checking")
    return parser


def _add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of every command that trains cells (run, tune)."""
    parser.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"results store (default {DEFAULT_DB})")
    parser.add_argument("--device", default="auto", help="auto (CUDA if present, else CPU), cpu, cuda, cuda:N")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="where datasets live (default $SNNBENCH_DATA or ./data)")
    parser.add_argument("--no-download", action="store_true", help="never download; fail if files are missing")
    parser.add_argument("--limit", type=_positive, metavar="N",
                        help="use at most N training and N test samples (quick runs on a CPU)")
    parser.add_argument("--epochs", type=_positive, metavar="N", help="train at most N epochs")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars, only a line per cell")


def _run_options(args):
    """The RunOptions the command line asks for; prints where the run goes."""
    from snnbench.runner import RunOptions
    from snnbench.runtime import data_root, device_name, resolve_device

    device = resolve_device(args.device)
    options = RunOptions(device=device, data_dir=data_root(args.data_dir), download=not args.no_download,
                         rerun=getattr(args, "rerun", False), limit=args.limit, max_epochs=args.epochs,
                         progress=False if args.no_progress else None)
    print(f"snnbench {__version__}: device {device} ({device_name(device)}), data {options.data_dir}, "
          f"store {args.db}")
    return options


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def _plugins(args) -> PluginSet:
    plugins = load_plugins(args.plugin)
    for failure in plugins.failures:
        print(f"snnbench: warning: {failure}", file=sys.stderr)
    return plugins


def cmd_validate(args) -> int:
    from snnbench.suite import read_suite
    from snnbench.tune import load_search

    plugins = _plugins(args)
    for path in args.suites:
        document = read_suite(path)
        suite = document.build(plugins.registries)
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


def cmd_run(args) -> int:
    from snnbench.runner import Runner
    from snnbench.suite import load_suite

    plugins = _plugins(args)
    suites = [load_suite(path, plugins.registries) for path in args.suites]  # all validate before any trains
    options = _run_options(args)
    exit_code = 0
    with ResultStore(args.db) as store:
        runner = Runner(plugins, store, options)
        for suite in suites:
            summary = runner.run(suite)
            print(f"suite {suite.name}: {summary.ok} ok, {summary.failed} failed, "
                  f"{summary.cached} already recorded, {summary.skipped} skipped as incompatible")
            exit_code = max(exit_code, summary.exit_code)
    if exit_code:
        print("some cells failed; their errors are recorded in the store "
              "(snnbench leaderboard lists them)", file=sys.stderr)
    return exit_code


def cmd_ls(args) -> int:
    plugins = _plugins(args)
    kinds = list(KINDS)
    if args.kind:
        kind = KIND_ALIASES.get(args.kind, args.kind)
        if kind not in KINDS:
            suggestion = did_you_mean(args.kind, [*KINDS, *KIND_ALIASES])
            raise SnnbenchError(f"unknown component kind {args.kind!r}" + (
                f"; did you mean {suggestion!r}?" if suggestion else f"; choose from {', '.join(KINDS)}"))
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
            print(f"  {entry.name:<18} {spec.summary}")
            print(f"  {'':<18} plugin {entry.plugin} ({entry.version})" + (f"; {'; '.join(extra)}" if extra else ""))
            for param in describe_params(spec.params):
                print(f"  {'':<20}{param['name']} = {param['default']}  ({param['type']}) {param['help']}")
        print()
    return 0


def cmd_leaderboard(args) -> int:
    from snnbench.leaderboard import GROUP_COLUMNS, aggregate, check_grouping, latest_results, render

    by = args.by or list(GROUP_COLUMNS)
    check_grouping(by)
    with ResultStore(args.db, create=False) as store:
        _check_suites(store, args.suite)
        results = latest_results(store.rows(args.suite))
    if results.ok.empty:
        print("no successful results" + (f" for suite {', '.join(args.suite)}" if args.suite else "") + " yet")
    else:
        print(render(aggregate(results.ok, by), by, sort=args.sort, fmt=args.format,
                     metrics=args.metric or None))
    if args.format != "csv":
        _notes(results)
    return 0


def _notes(results) -> None:
    if results.stale:
        print(f"\n{results.stale} result(s) computed with an older metric definition were left out; "
              "run their suites with --rerun to refresh them.", file=sys.stderr)
    for _, row in results.failed.iterrows():
        print(f"failed: {row['label']} seed={row['seed']}: {row['reason']}", file=sys.stderr)
    for _, row in results.skipped.iterrows():
        print(f"skipped: {row['label']}: {row['reason']}", file=sys.stderr)


def _check_suites(store: ResultStore, suites: Sequence[str]) -> None:
    known = store.suites()
    for suite in suites:
        if suite not in known:
            suggestion = did_you_mean(suite, known)
            raise SnnbenchError(f"no results for suite {suite!r} in {store.path}" + (
                f"; did you mean {suggestion!r}?" if suggestion else f"; recorded: {', '.join(known) or 'none'}"))


def cmd_check(args) -> int:
    from snnbench.gate import compare, load_baseline, make_baseline, report
    from snnbench.leaderboard import latest_results

    with ResultStore(args.db, create=False) as store:
        _check_suites(store, args.suite)
        results = latest_results(store.rows(args.suite))
    if args.write:
        if results.ok.empty:
            raise SnnbenchError("no successful results to make a baseline from")
        baseline = make_baseline(results.ok)
        args.baseline.parent.mkdir(parents=True, exist_ok=True)
        args.baseline.write_text(json.dumps(baseline, indent=2) + "\n")
        print(f"wrote {args.baseline}: {len(baseline['entries'])} cells")
        return 0
    baseline = load_baseline(args.baseline)
    findings = compare(results.ok, baseline)
    print(report(findings))
    regressed = [f for f in findings if f.regressed]
    if regressed:
        print(f"\n{len(regressed)} regression(s) against {args.baseline}", file=sys.stderr)
        return 1
    print(f"\nno regression against {args.baseline} ({len(findings)} checks)")
    return 0


def cmd_tune(args) -> int:
    from snnbench.suite import read_suite
    from snnbench.tune import load_search, tune

    plugins = _plugins(args)
    search = load_search(read_suite(args.suite), plugins.registries)  # validates before anything starts
    return tune(search, plugins, _run_options(args), args.db, trials=args.trials, objectives=args.objective,
                study_name=args.study, sampler=args.sampler)


COMMANDS = {"run": cmd_run, "validate": cmd_validate, "ls": cmd_ls, "leaderboard": cmd_leaderboard,
            "check": cmd_check, "tune": cmd_tune}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except SnnbenchError as error:
        print(f"snnbench: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nsnnbench: interrupted; every finished cell is recorded, rerun to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
