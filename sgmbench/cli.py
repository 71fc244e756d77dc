"""The ``sgmbench`` command line (also ``python -m sgmbench``).

Commands: ``list``, ``measure``, ``compare``, ``bounds``, ``run``, ``report``; ``sgmbench COMMAND -h``
explains each. Every bad input (unknown name, bad spec, impossible number, foreign store file, and
argparse's own errors) prints ``error: <one line>`` on stderr and exits with status 2, never a
traceback (set ``SGMBENCH_DEBUG=1`` to see one). An unexpected internal error exits with status 1.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sgmbench.errors import SgmbenchError

REGISTRIES = {
    "processes": ("sgmbench.processes", "forward_processes"),
    "targets": ("sgmbench.targets", "targets"),
    "scores": ("sgmbench.scores", "scores"),
    "grids": ("sgmbench.grids", "grids"),
    "samplers": ("sgmbench.samplers", "samplers"),
    "metrics": ("sgmbench.metrics", "metrics"),
    "estimators": ("sgmbench.metrics", "estimators"),
    "bounds": ("sgmbench.bounds", "bounds"),
}
KINDS = (*REGISTRIES, "studies")


class ArgumentParser(argparse.ArgumentParser):
    """argparse that raises :class:`SgmbenchError` (one line, exit 2) instead of printing usage."""

    def error(self, message: str):
        raise SgmbenchError(f"{self.prog}: {message}")


# ------------------------------------------------------------------------------------------------
# Argument types
# ------------------------------------------------------------------------------------------------
def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return v


def _names(text: str) -> list[str]:
    items = [t.strip() for t in text.split(",")]
    if not text.strip() or any(not t for t in items):
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of names, got {text!r}")
    return items


def _ints(text: str) -> list[int]:
    try:
        out = [int(t) for t in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    return out


def _split_specs(text: str) -> list[str]:
    """Split ``a:x=1,y=2,b,c:z=3`` at the commas that start a new spec (a name, not ``key=value``)."""
    parts, out = [p.strip() for p in text.split(",")], []
    for p in parts:
        if not p:
            raise argparse.ArgumentTypeError(f"empty name in list {text!r}")
        if out and "=" in p and ":" not in p:
            out[-1] += "," + p
        else:
            out.append(p)
    return out


# ------------------------------------------------------------------------------------------------
# Parser
# ------------------------------------------------------------------------------------------------
def _setting_options(p: argparse.ArgumentParser, *, single: bool = True) -> None:
    from sgmbench.setting import Setting

    d = Setting()
    g = p.add_argument_group("setting")
    g.add_argument("--target", default=d.target, help=f"target spec (default {d.target})")
    if single:
        g.add_argument("--process", default=d.process, help=f"forward process spec (default {d.process})")
        g.add_argument("--sampler", default=d.sampler, help=f"sampler spec (default {d.sampler})")
        g.add_argument("--steps", type=_int, default=d.steps, help=f"number of steps N (default {d.steps})")
    g.add_argument("--horizon", type=_float, default=None, help="horizon T (default: the process default)")
    g.add_argument("--grid", default=d.grid, help=f"time grid spec (default {d.grid})")
    g.add_argument(
        "--early-stop", type=_float, default=d.early_stop, help="early stopping delta >= 0 (default 0)"
    )
    g.add_argument(
        "--reference",
        default=d.reference,
        choices=("data", "early-stopped"),
        help="compare with p_0 (data) or p_delta (early-stopped)",
    )
    g.add_argument(
        "--prior",
        default=d.prior,
        choices=("gaussian", "exact"),
        help="start from N(0, sigma_T^2 I) (gaussian) or p_T itself (exact)",
    )
    g.add_argument(
        "--score", default=d.score, help=f"score spec (default {d.score}), e.g. perturbed:kind=bias,size=0.01"
    )
    g.add_argument(
        "--samples",
        type=_int,
        default=d.samples,
        help=f"sample size n when the law is not exactly computable (default {d.samples})",
    )
    g.add_argument("--seed", type=_int, default=d.seed, help="seed (used when sampling; default 0)")
    g.add_argument("--device", default=d.device, help="cpu or cuda (default cpu)")


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="sgmbench",
        description="Benchmarks for the convergence theory of score-based generative models.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("list", help="every registered name with its parameters, defaults and source")
    p.add_argument("kind", nargs="?", choices=KINDS, help="what to list (default: everything)")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")

    p = sub.add_parser("measure", help="measure metrics for one setting")
    _setting_options(p)
    p.add_argument("--metrics", type=_names, default=["w2"], help="comma-separated metrics (default w2)")
    p.add_argument("--json", action="store_true", help="print only one JSON object: setting and metrics")

    p = sub.add_parser("compare", help="several processes or samplers side by side over step counts")
    _setting_options(p, single=False)
    p.add_argument("--processes", type=_split_specs, help="comma-separated process specs")
    p.add_argument("--process", help="the process (with --samplers)")
    p.add_argument("--samplers", type=_split_specs, help="comma-separated sampler specs")
    p.add_argument("--sampler", help="the sampler (with --processes; default exponential-integrator)")
    p.add_argument("--steps", type=_ints, default=[10, 20, 40, 80, 160], help="comma-separated step counts")
    p.add_argument(
        "--metric",
        "--metrics",
        dest="metrics",
        type=_names,
        default=["w2"],
        help="metric(s), comma-separated (default w2)",
    )
    p.add_argument("--out", default=None, help="output directory (default results/compare)")
    p.add_argument("--json", action="store_true", help="print the long table as JSON records")

    p = sub.add_parser("bounds", help="every bound for one setting beside the measured metric")
    _setting_options(p)
    p.add_argument(
        "--metrics", type=_names, default=None, help="metrics to measure (default: the bounds' metrics)"
    )
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")

    p = sub.add_parser("run", help="run a study (or all) and store the results")
    p.add_argument("study", help="study name or 'all' (sgmbench list studies)")
    p.add_argument("--profile", default="quick", choices=("quick", "full"))
    ex = p.add_mutually_exclusive_group()
    ex.add_argument("--workers", type=_int, default=0, help="local Dask workers (0: in this process)")
    ex.add_argument("--scheduler", help="address of a running Dask scheduler, e.g. tcp://host:8786")
    ex.add_argument(
        "--cluster", choices=("slurm", "pbs", "sge", "lsf"), help="start workers with dask-jobqueue"
    )
    p.add_argument("--cluster-config", help="YAML/JSON file of dask-jobqueue options (with --cluster)")
    p.add_argument("--jobs", type=_int, help="number of batch jobs to start (with --cluster)")
    p.add_argument("--store", default=None, help="SQLite store (default results/sgmbench.sqlite)")
    p.add_argument("--retry-failed", action="store_true", help="run the failed cells again")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = sub.add_parser("report", help="tables, figures and SUMMARY.md from the store")
    p.add_argument("studies", nargs="*", help="studies to report (default: all in the store)")
    p.add_argument("--store", default=None, help="SQLite store (default results/sgmbench.sqlite)")
    p.add_argument("--out", default="results", help="results directory (default results)")
    return parser


# ------------------------------------------------------------------------------------------------
# Output helpers
# ------------------------------------------------------------------------------------------------
def _text_table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    cells = [[str(h) for h in header]] + [[_fmt(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def json_data(obj: Any) -> Any:
    """Plain JSON data: tuples as lists, numpy/torch scalars as numbers, NaN and ±inf as ``null``."""
    if isinstance(obj, dict):
        return {str(k): json_data(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_data(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(json_data(obj), allow_nan=False) + "\n")


def _setting_from_args(args, **override) -> Any:
    from sgmbench.setting import Setting

    fields = dict(
        target=args.target,
        process=getattr(args, "process", None) or Setting.process,
        horizon=args.horizon,
        sampler=getattr(args, "sampler", None) or Setting.sampler,
        grid=args.grid,
        steps=getattr(args, "steps", Setting.steps),
        early_stop=args.early_stop,
        reference=args.reference,
        prior=args.prior,
        score=args.score,
        samples=args.samples,
        seed=args.seed,
        device=args.device,
    )
    fields.update(override)
    return Setting(**fields)


# ------------------------------------------------------------------------------------------------
# Commands
# ------------------------------------------------------------------------------------------------
def _registry(kind: str):
    import importlib

    module, attr = REGISTRIES[kind]
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise SgmbenchError(f"{kind} are not available in this installation ({exc})") from None
    reg = getattr(mod, attr, None)
    if reg is None:
        raise SgmbenchError(f"{module} has no registry {attr!r}")
    return reg


def describe_kind(kind: str) -> list[dict[str, Any]]:
    if kind == "studies":
        from sgmbench.study import describe_studies

        return describe_studies()
    return _registry(kind).describe()


def cmd_list(args) -> int:
    kinds = [args.kind] if args.kind else list(KINDS)
    out: dict[str, Any] = {}
    for kind in kinds:
        try:
            out[kind] = describe_kind(kind)
        except SgmbenchError as exc:
            if args.kind:
                raise
            out[kind] = {"unavailable": str(exc)}
    if args.json:
        _print_json(out)
        return 0
    for kind, rows in out.items():
        print(f"{kind}:")
        if isinstance(rows, dict):
            print(f"  ({rows['unavailable']})")
            continue
        for r in rows:
            params = ", ".join(
                f"{k}={v}" for k, v in r["parameters"].items() if k not in ("target", "process")
            )
            print(f"  {r['name']}" + (f"({params})" if params else ""))
            if r.get("summary"):
                print(f"      {r['summary']}")
            if r.get("source"):
                print(f"      source: {r['source']}")
    return 0


def cmd_measure(args) -> int:
    from sgmbench.measure import measure

    setting = _setting_from_args(args)
    result = measure(setting, args.metrics)
    if args.json:
        _print_json(result)
        return 0
    s = result["setting"]
    print("setting:")
    width = max(len(k) for k in s)
    for k, v in s.items():
        print(f"  {k:<{width}}  {_fmt(v)}")
    rows = [
        (m, r["value"], "yes" if r["exact"] else "no", r["stderr"], r["floor"])
        for m, r in result["metrics"].items()
    ]
    print()
    print(_text_table(rows, ["metric", "value", "exact", "stderr", "floor"]))
    return 0


def cmd_compare(args) -> int:
    from sgmbench.report import compare

    if bool(args.processes) == bool(args.samplers):
        raise SgmbenchError(
            "give either --processes a,b,... (with one --sampler) or --samplers a,b,... (with one --process)"
        )
    if args.processes and args.process:
        raise SgmbenchError("--process is for --samplers; with --processes give the processes in the list")
    if args.samplers and args.sampler:
        raise SgmbenchError("--sampler is for --processes; with --samplers give the samplers in the list")
    if any(n < 1 for n in args.steps):
        raise SgmbenchError(f"--steps must be positive integers, got {args.steps}")
    base = _setting_from_args(args, steps=args.steps[0])
    vary = ("process", args.processes) if args.processes else ("sampler", args.samplers)
    out = Path(args.out) if args.out else Path("results") / "compare"
    result = compare(base, vary[0], vary[1], args.steps, args.metrics, out)
    if args.json:
        _print_json(
            {
                "table": result.table.to_dict(orient="records"),
                "rates": result.rates_records(),
                "files": [str(f) for f in result.files],
            }
        )
        return 0
    print(result.text())
    return 0


def cmd_bounds(args) -> int:
    from sgmbench.measure import bounds_report

    setting = _setting_from_args(args)
    result = bounds_report(setting, args.metrics)
    if args.json:
        _print_json(result)
        return 0
    print(format_bounds(result))
    return 0


def format_bounds(result: dict[str, Any]) -> str:
    """The readable form of :func:`sgmbench.measure.bounds_report`."""
    lines = ["measured:"]
    for m, r in result["measured"].items():
        err = "  (exact)" if r.get("exact") else f"  ± {_fmt(r.get('stderr'))}"
        lines.append(f"  {m:<22} {_fmt(r['value'])}{err}")
    rows = [
        (
            b["bound"],
            b["compares"],
            b["value"],
            b.get("measured"),
            b.get("holds"),
            b.get("ratio"),
            b["direction"],
        )
        for b in result["applicable"]
    ]
    lines += ["", "applicable bounds:"]
    header = ["bound", "compares", "bound value", "measured", "holds", "bound/measured", "direction"]
    lines.append(_text_table(rows, header) if rows else "  (none)")
    for b in result["applicable"]:
        terms = ", ".join(f"{k} = {_fmt(v)}" for k, v in (b.get("terms") or {}).items())
        lines.append(
            f"  {b['bound']}: {terms}"
            + ("  [constant unspecified: C = 1]" if b.get("constant_unspecified") else "")
        )
        lines.append(f"      source: {b.get('source', '')}")
    lines += ["", "inapplicable bounds (the assumptions that failed):"]
    for b in result["inapplicable"]:
        lines.append(f"  {b['bound']} ({b['compares']}): {'; '.join(b.get('failed') or [])}")
    if not result["inapplicable"]:
        lines.append("  (none)")
    return "\n".join(lines)


def cmd_run(args) -> int:
    from sgmbench.runner import make_executor, run_study
    from sgmbench.store import DEFAULT_STORE, Store
    from sgmbench.study import iter_studies

    if args.workers < 0:
        raise SgmbenchError(f"--workers must be >= 0, got {args.workers}")
    if args.cluster_config and not args.cluster:
        raise SgmbenchError("--cluster-config needs --cluster slurm|pbs|sge|lsf")
    studies = iter_studies(args.study)
    if not studies:
        raise SgmbenchError("no studies found in benchmarks/")
    for s in studies:  # expand every grid first: a bad study fails before anything runs
        s.cells(args.profile)
    with Store(args.store or DEFAULT_STORE) as store:
        executor = make_executor(args.workers, args.scheduler, args.cluster, args.cluster_config, args.jobs)
        failed = 0
        try:
            for s in studies:
                summary = run_study(s, store, executor, args.profile, args.retry_failed, not args.no_progress)
                failed += summary.failed
                print(summary.line(), file=sys.stderr)
        finally:
            executor.close()
    if failed:
        print(
            f"{failed} cell(s) failed; see the store's messages (sgmbench report) "
            "or rerun with --retry-failed",
            file=sys.stderr,
        )
    return 0


def cmd_report(args) -> int:
    from sgmbench.report import report
    from sgmbench.store import DEFAULT_STORE, Store

    with Store(args.store or DEFAULT_STORE, readonly=True) as store:
        studies = [s.replace("_", "-") for s in args.studies]
        known = store.studies()
        for s in studies:
            if s not in known:
                raise SgmbenchError(
                    f"no results for study {s!r} in {store.path}; stored: {', '.join(known) or 'none'}"
                )
        reports, summary = report(store, studies or None, args.out)
    for r in reports:
        print(
            f"{r.study}: {r.cells} cells ({r.failed} failed) -> {r.directory}/ ({len(r.files)} files)",
            file=sys.stderr,
        )
        for w in r.warnings:
            print(f"warning: {w}", file=sys.stderr)
    print(f"summary -> {summary}", file=sys.stderr)
    return 0


COMMANDS = {
    "list": cmd_list,
    "measure": cmd_measure,
    "compare": cmd_compare,
    "bounds": cmd_bounds,
    "run": cmd_run,
    "report": cmd_report,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sgmbench`` console script; returns the exit status."""
    debug = bool(os.environ.get("SGMBENCH_DEBUG"))
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except SgmbenchError as exc:
        if debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted (finished cells are stored; run again to resume)", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug: still one line, but a different status
        if debug:
            raise
        msg = " ".join(str(exc).split())
        print(
            f"error: internal error: {type(exc).__name__}: {msg} (SGMBENCH_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return 1


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    sys.exit(main())
