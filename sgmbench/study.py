r"""Studies and cells: a study is a grid of settings; a cell is one point of it, plus its seed.

A **study** is a module in ``benchmarks/`` that defines ``STUDY = Study(...)``: the axes of its grid
(targets × processes × samplers × grids × step counts × score errors × dimensions × sample sizes ×
seeds), the metrics, the bounds, the rates to fit, its tables and figures, and two profiles, ``quick``
(the default, minutes) and ``full`` (paper quality), that override axes. Studies are found by name:
``benchmarks/forward_processes.py`` is the study ``forward-processes`` (:func:`get_study`,
:func:`available_studies`).

A **cell** (:class:`Cell`) is pure data: a :class:`~sgmbench.setting.Setting`, the metrics, the
study-specific ``extras``, the replicate number and the name of the cell function that computes it.
Its :meth:`Cell.key` (a hash of all of that) is its cache key in the store, and its seed is derived
from the hash of its setting, extras and replicate (:func:`cell_seed`), so a cell gives the same numbers
on any executor and machine.

Axis names (keys of ``Study.axes`` and of a profile's overrides):

- a :class:`Setting` field: ``target``, ``process``, ``horizon``, ``sampler``, ``grid``, ``steps``,
  ``early_stop``, ``reference``, ``prior``, ``score``, ``samples``, ``device``;
- ``seed`` (or ``replicate``): replicate numbers 0, 1, ...; the seed actually used is derived from
  the cell's hash (two replicates differ, the same replicate is the same everywhere);
- ``KIND.PARAM`` with KIND in ``target``, ``process``, ``score``, ``sampler``, ``grid``: sets one
  parameter of that spec, e.g. ``target.dim`` or ``score.size``; aliases: ``dim`` = ``target.dim``,
  ``eps`` = ``score.size``;
- a tuple of names with a list of tuples of values: those axes vary together (zipped);
- any other name: a study-specific extra, passed to the cell function in ``cell.extras``.

A study whose results need tables or figures the generic report cannot make gives ``report_fn``
(``"module:function"``): ``sgmbench report`` calls ``report_fn(store, directory)`` after its own files,
with the open :class:`~sgmbench.store.Store` and ``results/<study>/``, and lists the paths it returns.

The cell function (``Study.cell_fn``, a ``"module:function"`` string so that workers can import it;
default :func:`sgmbench.measure.measure_cell`) maps a :class:`Cell` to an *outcome*
``{"metrics": {name: {"value", "exact", "stderr", "floor", ...}}, "setting": {...}, "info": {...}}``
(the ``sgmbench measure --json`` object plus optional ``info``). A study with a special computation
(e.g. a bisection for the smallest step count reaching a tolerance) gives its own.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.util
import itertools
import json
import math
import os
import pkgutil
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sgmbench.errors import SgmbenchError
from sgmbench.registry import format_spec, parse_spec
from sgmbench.setting import Setting

PROFILES = ("quick", "full")
DEFAULT_CELL_FN = "sgmbench.measure:measure_cell"
SETTING_FIELDS = tuple(f.name for f in dataclasses.fields(Setting))
SPEC_FIELDS = ("target", "process", "score", "sampler", "grid")
AXIS_ALIASES = {"dim": "target.dim", "eps": "score.size", "replicate": "seed", "seeds": "seed"}
REPO_ROOT = Path(__file__).resolve().parent.parent
STUDY_PATH_ENV = "SGMBENCH_STUDY_PATH"


# ------------------------------------------------------------------------------------------------
# JSON helpers: canonical, hashable, round-trippable values
# ------------------------------------------------------------------------------------------------
def freeze(value: Any) -> Any:
    """A hashable, JSON-able copy: lists become tuples, dicts sorted tuples of pairs; floats stay."""
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "item"):  # numpy / torch scalars
        return freeze(value.item())
    raise SgmbenchError(f"value {value!r} of type {type(value).__name__} cannot be part of a cell")


def canonical_json(obj: Any) -> str:
    """Canonical JSON (sorted keys, no spaces) used for hashes; non-finite floats as strings."""
    return json.dumps(jsonable(obj), sort_keys=True, separators=(",", ":"), allow_nan=False)


def jsonable(obj: Any) -> Any:
    """Plain JSON data: tuples become lists; NaN/±inf become the strings ``"nan"``, ``"inf"``, ``"-inf"``."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        return jsonable(obj.item())
    return obj


def _hash(obj: Any, n: int = 32) -> str:
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:n]


# ------------------------------------------------------------------------------------------------
# Cells
# ------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Cell:
    """One point of a study's grid: pure data, hashable, serialisable (:meth:`as_dict`/:meth:`from_dict`).

    ``setting.seed`` is the seed derived from its setting, extras and replicate (:func:`cell_seed`); ``study``
    is a label and not part of the key (the same cell in two studies gives the same numbers);
    ``bounds`` names the bounds the cell function evaluates beside the metrics (part of the key only
    when not empty).
    """

    setting: Setting
    metrics: tuple[str, ...] = ("w2",)
    extras: tuple[tuple[str, Any], ...] = ()
    replicate: int = 0
    cell_fn: str = DEFAULT_CELL_FN
    study: str = ""
    bounds: tuple[str, ...] = ()

    @classmethod
    def make(
        cls,
        setting: Setting,
        metrics: Sequence[str] = ("w2",),
        extras: Mapping[str, Any] | None = None,
        replicate: int = 0,
        cell_fn: str = DEFAULT_CELL_FN,
        study: str = "",
        bounds: Sequence[str] = (),
    ) -> Cell:
        """A cell whose ``setting.seed`` is :func:`cell_seed` of its setting, extras and replicate (not of
        its metrics, bounds or cell function: measuring one more metric keeps the same samples)."""
        if not isinstance(replicate, int) or isinstance(replicate, bool) or replicate < 0:
            raise SgmbenchError(f"seed/replicate must be an integer >= 0, got {replicate!r}")
        frozen_extras = tuple(sorted((str(k), freeze(v)) for k, v in (extras or {}).items()))
        seed = cell_seed(setting, frozen_extras, replicate)
        return cls(
            setting.replace(seed=seed),
            tuple(metrics),
            frozen_extras,
            replicate,
            cell_fn,
            study,
            tuple(bounds),
        )

    @property
    def seed(self) -> int:
        return self.setting.seed

    def extra(self, name: str, default: Any = None) -> Any:
        return dict(self.extras).get(name, default)

    def as_dict(self) -> dict[str, Any]:
        d = {
            "setting": self.setting.as_dict(),
            "metrics": list(self.metrics),
            "extras": {k: jsonable(v) for k, v in self.extras},
            "replicate": self.replicate,
            "cell_fn": self.cell_fn,
            "study": self.study,
        }
        if self.bounds:  # only when present, so that cells without bounds keep their keys
            d["bounds"] = list(self.bounds)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Cell:
        return cls(
            setting=Setting(**data["setting"]),
            metrics=tuple(data["metrics"]),
            extras=tuple(sorted((k, freeze(v)) for k, v in data.get("extras", {}).items())),
            replicate=int(data.get("replicate", 0)),
            cell_fn=data.get("cell_fn", DEFAULT_CELL_FN),
            study=data.get("study", ""),
            bounds=tuple(data.get("bounds", ())),
        )

    def key(self) -> str:
        """The cell's hash: sha256 of the canonical JSON of everything but the study label."""
        d = self.as_dict()
        d.pop("study")
        return _hash(d)


def derive_seed(key: str) -> int:
    """A seed in [0, 2^31) from a hex hash (the first 8 hex digits, top bit cleared)."""
    return int(key[:8], 16) & 0x7FFFFFFF


def cell_seed(setting: Setting, extras: Sequence[tuple[str, Any]] = (), replicate: int = 0) -> int:
    """The seed of a cell: :func:`derive_seed` of the hash of its setting (with ``seed`` = 0), extras and
    replicate number; the same on every machine and executor, different for different replicates."""
    basis = {"setting": setting.replace(seed=0).as_dict(), "extras": dict(extras), "replicate": replicate}
    return derive_seed(_hash(basis))


# ------------------------------------------------------------------------------------------------
# Study declarations
# ------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Rate:
    """A rate to fit: ``metric ≈ C · x^slope`` in each group of the other varying axes.

    ``x`` is an axis or derived column (``steps``, ``h`` = (T − δ)/steps, ``dim``, ``eps``, ``samples``);
    ``predicted`` is the expected exponent (e.g. −1 for ``w2`` vs ``steps`` of a first-order sampler);
    ``by`` lists the grouping columns (default: every other varying axis); ``tail`` fits only the
    largest ``tail`` values of ``x`` (the asymptotic regime); ``bound`` names the bound that predicts it.
    """

    metric: str
    x: str = "steps"
    predicted: float | None = None
    by: tuple[str, ...] | None = None
    tail: int | None = None
    bound: str | None = None


@dataclasses.dataclass(frozen=True)
class Table:
    """A table: rows ``index`` (default: the varying axes), one column per metric (``value ± stderr``)."""

    name: str = "metrics"
    index: tuple[str, ...] | None = None
    metrics: tuple[str, ...] | None = None


@dataclasses.dataclass(frozen=True)
class Figure:
    """A figure: ``kind="rate"`` draws ``metric`` vs ``x`` (log–log) with one line per ``hue``, panels
    by ``col``/``row``, fitted slopes and the applicable bounds' curves; ``kind="bound"`` draws measured
    vs bound (log–log with the diagonal)."""

    name: str
    metric: str = "w2"
    x: str = "steps"
    hue: str | None = None
    col: str | None = None
    row: str | None = None
    kind: str = "rate"
    logx: bool = True
    logy: bool = True


@dataclasses.dataclass(frozen=True)
class Study:
    """A benchmark study; see the module docstring. Modules in ``benchmarks/`` define ``STUDY``."""

    name: str = ""
    title: str = ""
    description: str = ""
    axes: Mapping[Any, Sequence[Any]] = dataclasses.field(default_factory=dict)
    base: Setting = dataclasses.field(default_factory=Setting)
    metrics: tuple[str, ...] = ("w2",)
    bounds: tuple[str, ...] = ()
    rates: tuple[Rate, ...] = ()
    tables: tuple[Table, ...] = ()
    figures: tuple[Figure, ...] = ()
    profiles: Mapping[str, Mapping[Any, Sequence[Any]]] = dataclasses.field(
        default_factory=lambda: {"quick": {}, "full": {}}
    )
    cell_fn: str | Callable | None = None
    where: Callable[[Mapping[str, Any]], bool] | None = None
    source: str = ""
    report_fn: str | Callable | None = None

    # -- grid --------------------------------------------------------------------------------
    def effective_axes(self, profile: str = "quick") -> dict[Any, list[Any]]:
        """The axes of ``profile``: the study's axes overridden by the profile's."""
        if profile not in PROFILES:
            raise SgmbenchError(f"unknown profile {profile!r}; valid: {', '.join(PROFILES)}")
        axes = {_canonical_axis(k): list(v) for k, v in self.axes.items()}
        for k, v in (self.profiles.get(profile) or {}).items():
            axes[_canonical_axis(k)] = list(v)
        for k, v in axes.items():
            if not v:
                raise SgmbenchError(f"study {self.name!r}: axis {k!r} has no values")
        return axes

    def varying(self, profile: str = "quick") -> list[str]:
        """Axis names with more than one value (flattened, zipped axes split)."""
        out = []
        for k, v in self.effective_axes(profile).items():
            if len(v) > 1:
                out.extend(k if isinstance(k, tuple) else [k])
        return [AXIS_ALIASES.get(n, n) if n != "seed" else "replicate" for n in out]

    def cell_fn_name(self) -> str:
        return resolve_cell_fn_name(self.cell_fn) if self.cell_fn is not None else DEFAULT_CELL_FN

    def cells(self, profile: str = "quick") -> list[Cell]:
        """Expand the grid of ``profile`` into cells (the product of the axes, in declaration order)."""
        axes = self.effective_axes(profile)
        names = list(axes)
        fn = self.cell_fn_name()
        if self.bounds:
            from sgmbench.bounds import get_bound

            for b in self.bounds:
                get_bound(b)  # an unknown bound is a one-line error before anything runs
        seen: dict[str, Cell] = {}
        for combo in itertools.product(*(axes[n] for n in names)):
            point: dict[str, Any] = {}
            for name, value in zip(names, combo):
                if isinstance(name, tuple):
                    if not isinstance(value, (tuple, list)) or len(value) != len(name):
                        raise SgmbenchError(
                            f"study {self.name!r}: zipped axis {name} needs tuples of {len(name)} values, "
                            f"got {value!r}"
                        )
                    point.update(zip(name, value))
                else:
                    point[name] = value
            if self.where is not None and not self.where(point):
                continue
            cell = self._cell(point, fn)
            seen.setdefault(cell.key(), cell)
        if not seen:
            raise SgmbenchError(f"study {self.name!r} (profile {profile}) has no cells")
        return list(seen.values())

    def _cell(self, point: Mapping[str, Any], fn: str) -> Cell:
        fields: dict[str, Any] = {}
        spec_params: dict[str, dict[str, Any]] = {}
        extras: dict[str, Any] = {}
        replicate = 0
        for name, value in point.items():
            if name == "seed":
                replicate = value
            elif name in SETTING_FIELDS:
                fields[name] = value
            elif "." in name and name.split(".", 1)[0] in SPEC_FIELDS:
                kind, param = name.split(".", 1)
                spec_params.setdefault(kind, {})[param] = value
            else:
                extras[name] = value
        try:
            setting = self.base.replace(**fields)
            if spec_params:
                updates = {}
                for kind, params in spec_params.items():
                    spec_name, spec_args = parse_spec(getattr(setting, kind))
                    spec_args.update(params)
                    updates[kind] = format_spec(spec_name, spec_args)
                setting = setting.replace(**updates)
        except TypeError as exc:
            raise SgmbenchError(f"study {self.name!r}: bad setting {dict(point)}: {exc}") from None
        return Cell.make(setting, self.metrics, extras, replicate, fn, self.name, self.bounds)

    def config(self, profile: str = "quick") -> dict[str, Any]:
        """Everything that defines the study's numbers, as JSON data (stored, and written to config.json)."""
        axes = self.effective_axes(profile)
        return jsonable(
            {
                "study": self.name,
                "title": self.title,
                "profile": profile,
                "axes": [
                    {"name": list(k) if isinstance(k, tuple) else k, "values": v} for k, v in axes.items()
                ],
                "base": self.base.as_dict(),
                "metrics": list(self.metrics),
                "bounds": list(self.bounds),
                "rates": [dataclasses.asdict(r) for r in self.rates],
                "tables": [dataclasses.asdict(t) for t in self.tables],
                "figures": [dataclasses.asdict(f) for f in self.figures],
                "cell_fn": self.cell_fn_name(),
                "report_fn": resolve_cell_fn_name(self.report_fn) if self.report_fn is not None else None,
                "has_filter": self.where is not None,
                "source": self.source,
            }
        )


def _canonical_axis(name: Any) -> Any:
    if isinstance(name, tuple):
        return tuple(_canonical_axis(n) for n in name)
    if not isinstance(name, str) or not name:
        raise SgmbenchError(f"axis name must be a non-empty string, got {name!r}")
    return AXIS_ALIASES.get(name, name)


# ------------------------------------------------------------------------------------------------
# Cell functions: named so that any worker can import them
# ------------------------------------------------------------------------------------------------
def resolve_cell_fn_name(fn: str | Callable) -> str:
    """``"module:function"`` for a function defined at module level (or the string itself); also used
    for ``report_fn``."""
    if isinstance(fn, str):
        return fn
    module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    if not module or "<" in qualname:
        raise SgmbenchError(f"cell function {fn!r} must be defined at module level")
    if module == "__main__" or module.startswith(_FILE_MODULE_PREFIX):
        path = getattr(sys.modules.get(module), "__file__", None)
        if not path:
            raise SgmbenchError(f"cell function {qualname} has no importable module")
        return f"{Path(path).resolve()}:{qualname}"
    return f"{module}:{qualname}"


def load_cell_fn(name: str) -> Callable[..., Any]:
    """Import a cell (or report) function: ``"package.module:function"`` or ``"/path/file.py:function"``."""
    module_name, sep, attr = name.rpartition(":")
    if not sep or not module_name or not attr:
        raise SgmbenchError(f"cell function {name!r}: expected 'module:function'")
    ensure_repo_importable()
    if module_name.endswith(".py"):
        module = _load_file_module(Path(module_name))
    else:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise SgmbenchError(f"cell function {name!r}: cannot import {module_name}: {exc}") from None
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise SgmbenchError(f"cell function {name!r}: {module_name} has no {attr}")
    return obj


def synthetic_cell(cell: Cell) -> dict[str, Any]:
    r"""A cheap deterministic cell function that exercises the pipeline without any SGM computation.

    For each metric it returns $C\,N^{-r}(1 + 0.01\,\xi)$ with $N$ = ``steps``, $C$ = extra ``scale``
    (default 1), $r$ = extra ``rate`` (default 1) and $\xi \sim N(0,1)$ drawn from the cell's seed,
    with ``stderr`` 0.01·value. Extras ``sleep`` (seconds) and ``fail`` (a message: raise) are for
    testing resumption and failure handling. Used by the runner and store tests.
    """
    import time

    import numpy as np

    extras = dict(cell.extras)
    if extras.get("sleep"):
        time.sleep(float(extras["sleep"]))
    if extras.get("fail"):
        raise RuntimeError(str(extras["fail"]))
    rng = np.random.default_rng(cell.seed)
    n = cell.setting.steps
    scale, rate = float(extras.get("scale", 1.0)), float(extras.get("rate", 1.0))
    metrics = {}
    for i, m in enumerate(cell.metrics):
        value = scale * (i + 1) * n ** (-rate) * (1 + 0.01 * float(rng.standard_normal()))
        metrics[m] = {"value": value, "exact": False, "stderr": 0.01 * value, "floor": None}
    return {"setting": cell.setting.as_dict(), "metrics": metrics, "info": {"nfe": n}}


# ------------------------------------------------------------------------------------------------
# Discovery: modules in benchmarks/ (and in $SGMBENCH_STUDY_PATH directories)
# ------------------------------------------------------------------------------------------------
_FILE_MODULE_PREFIX = "sgmbench_studies_"


def ensure_repo_importable() -> None:
    """Put the repository root on ``sys.path`` so ``benchmarks.<study>`` imports (workers call this too)."""
    root = str(REPO_ROOT)
    if (REPO_ROOT / "benchmarks").is_dir() and root not in sys.path:
        sys.path.append(root)


def study_name(module_name: str) -> str:
    """``forward_processes`` -> ``forward-processes``."""
    return module_name.rsplit(".", 1)[-1].replace("_", "-")


def _load_file_module(path: Path):
    path = path.resolve()
    if not path.is_file():
        raise SgmbenchError(f"study file {path} does not exist")
    mod_name = _FILE_MODULE_PREFIX + hashlib.sha1(str(path).encode()).hexdigest()[:10] + "_" + path.stem
    if mod_name in sys.modules:
        return sys.modules[mod_name]
    spec = importlib.util.spec_from_file_location(mod_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except SgmbenchError:
        del sys.modules[mod_name]
        raise
    except Exception as exc:
        del sys.modules[mod_name]
        raise SgmbenchError(f"study file {path} failed to import: {type(exc).__name__}: {exc}") from None
    return module


def _study_from_module(module, name: str) -> Study:
    obj = getattr(module, "STUDY", None)
    if obj is None and callable(getattr(module, "study", None)):
        obj = module.study()
    if not isinstance(obj, Study):
        raise SgmbenchError(f"study module {module.__name__} defines no STUDY = Study(...)")
    if obj.name and obj.name != name:
        raise SgmbenchError(f"study module for {name!r} names itself {obj.name!r}: leave Study.name empty")
    src = getattr(module, "__file__", "") or ""
    return dataclasses.replace(
        obj,
        name=name,
        source=obj.source
        or (str(Path(src).relative_to(REPO_ROOT)) if src.startswith(str(REPO_ROOT)) else src),
        title=obj.title or ((module.__doc__ or "").strip().splitlines() or [name])[0],
    )


def _study_modules() -> dict[str, tuple[str, Any]]:
    """name -> ("package", module name) or ("file", path), in search order (first wins)."""
    found: dict[str, tuple[str, Any]] = {}
    for directory in os.environ.get(STUDY_PATH_ENV, "").split(os.pathsep):
        if directory.strip():
            for path in sorted(Path(directory).glob("*.py")):
                if not path.name.startswith("_"):
                    found.setdefault(study_name(path.stem), ("file", path))
    bench = REPO_ROOT / "benchmarks"
    if bench.is_dir():
        ensure_repo_importable()
        for info in pkgutil.iter_modules([str(bench)]):
            if not info.ispkg and not info.name.startswith("_"):
                found.setdefault(study_name(info.name), ("package", f"benchmarks.{info.name}"))
    return found


def available_studies() -> list[str]:
    """Names of every study (modules of ``benchmarks/`` and of ``$SGMBENCH_STUDY_PATH``), sorted."""
    return sorted(_study_modules())


def get_study(name: str) -> Study:
    """The study called ``name`` (dashes or underscores); a miss lists the valid names."""
    name = name.strip().replace("_", "-")
    modules = _study_modules()
    if name not in modules:
        raise SgmbenchError(f"unknown study {name!r}; valid: {', '.join(sorted(modules)) or 'none'}")
    how, where = modules[name]
    if how == "file":
        module = _load_file_module(where)
    else:
        try:
            module = importlib.import_module(where)
        except SgmbenchError:
            raise
        except Exception as exc:
            raise SgmbenchError(f"study {name!r} failed to import: {type(exc).__name__}: {exc}") from None
    return _study_from_module(module, name)


def describe_studies() -> list[dict[str, Any]]:
    """Rows for ``sgmbench list studies``."""
    rows = []
    for name in available_studies():
        try:
            s = get_study(name)
            quick, full = len(s.cells("quick")), len(s.cells("full"))
            rows.append(
                {
                    "name": name,
                    "parameters": {
                        "cells(quick)": quick,
                        "cells(full)": full,
                        "metrics": ",".join(s.metrics),
                    },
                    "summary": s.title,
                    "source": s.source,
                }
            )
        except SgmbenchError as exc:
            rows.append({"name": name, "parameters": {}, "summary": f"(broken: {exc})", "source": ""})
    return rows


def iter_studies(names: Iterable[str] | str) -> list[Study]:
    """Studies by name; ``"all"`` means every available study."""
    if isinstance(names, str):
        names = available_studies() if names == "all" else [names]
    return [get_study(n) for n in names]
