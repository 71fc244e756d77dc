r"""Noise floors: the same estimator between two independent samples of the target at the same n.

An estimate is only informative above its floor $F_n$ (metrics-and-exact §4.1, §5.4): plug-in W2
between two samples of one law is $\gg 0$ in high d, k-NN KL fluctuates by ~0.01–0.05 nats, a
histogram TV is $\approx\sqrt{B/(\pi n)}$. :func:`noise_floor` measures $F_n$ as the mean over
``replicates`` independent pairs (fresh samples, seeds derived from a fixed floor seed so that every
cell of a study shares it), with its standard error and the replicate standard deviation.

Floors are cached per (target key, n, estimator spec, metric, replicates, seed): in memory (LRU, 512
entries) and, when ``cache_dir`` is given or ``SGMBENCH_FLOOR_CACHE`` is set, as JSON files on disk.
Targets without a stable key (see :func:`~sgmbench.metrics._util.law_key`) are not cached.

:func:`judge` turns value and floor into the record's ``meaningful`` flag: a value is resolvable when
it exceeds $3(|F|+2\,{\rm SE}_F)$ (metrics-and-exact §5.4; compared on squares for ``w2`` and
``sliced_w2``, whose floors add in squared units) and its 95 % interval lies above $|F|$.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from sgmbench.errors import SgmbenchError
from sgmbench.metrics._util import child_seeds, law_key, sample_law
from sgmbench.metrics.estimators import Estimator, get_estimator
from sgmbench.metrics.ot import FLOOR_DECIDES
from sgmbench.metrics.record import MetricRecord, timer

__all__ = ["Floor", "noise_floor", "judge", "clear_floor_cache", "FLOOR_SEED"]

#: default seed of floor samples (independent of the cell seeds; shared by all cells of a study)
FLOOR_SEED = 0x5F100
_CACHE: OrderedDict[str, Floor] = OrderedDict()
_CACHE_SIZE = 512


@dataclasses.dataclass(frozen=True)
class Floor:
    """A measured noise floor: mean over replicates, its standard error, the replicate sd and values."""

    value: float
    stderr: float
    sd: float
    replicates: int
    values: tuple[float, ...]
    runtime_s: float
    key: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def clear_floor_cache() -> None:
    """Empty the in-memory floor cache (the on-disk cache is left alone)."""
    _CACHE.clear()


def _cache_key(target: Any, n: int, est: Estimator, metric: str, replicates: int, seed: int) -> str | None:
    tk = law_key(target)
    if tk is None:
        return None
    raw = json.dumps([tk, int(n), est.spec, metric, int(replicates), int(seed)])
    return hashlib.sha1(raw.encode()).hexdigest()


def _disk_dir(cache_dir: str | os.PathLike | None) -> Path | None:
    d = cache_dir if cache_dir is not None else os.environ.get("SGMBENCH_FLOOR_CACHE")
    return Path(d) if d else None


def noise_floor(
    metric: str,
    target: Any,
    n: int,
    estimator: str | Estimator,
    *,
    replicates: int = 3,
    seed: int = FLOOR_SEED,
    cache: bool = True,
    cache_dir: str | os.PathLike | None = None,
) -> Floor:
    r"""The floor $F_n$ of ``estimator`` for ``metric``: its mean over ``replicates`` pairs of target samples.

    Each replicate draws two independent samples $A, B$ of size ``n`` from ``target`` and runs the
    estimator with $A$ as the "generated" sample and $B$ as the reference (for estimators that need the
    target law, $A$ against the law; with known densities the floor is exactly 0).
    """
    est = get_estimator(estimator)
    est.check_metric(metric)
    if isinstance(replicates, bool) or not isinstance(replicates, int) or replicates < 1:
        raise SgmbenchError(f"replicates must be a positive integer, got {replicates!r}")
    key = _cache_key(target, n, est, metric, replicates, seed) if cache else None
    disk = _disk_dir(cache_dir) if key else None
    if key is not None and key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    if disk is not None and (disk / f"floor-{key}.json").exists():
        try:
            data = json.loads((disk / f"floor-{key}.json").read_text())
            fl = Floor(**{**data, "values": tuple(data["values"])})
            _remember(key, fl)
            return fl
        except (OSError, ValueError, TypeError):
            pass  # unreadable cache entry: recompute
    with timer() as t:
        values = []
        for r, (sa, sb, se) in enumerate(_seed_triples(seed, replicates)):
            a = sample_law(target, n, sa, "target")
            if est.needs == "density":
                values.append(0.0)  # log q = log p at every point: the estimator is exactly 0
                continue
            b = sample_law(target, n, sb, "target") if est.uses_reference else None
            rec = est(metric, a, y=b, target=target, x_log_prob=None, seed=se + r)
            values.append(rec.value)
    vals = np.asarray(values, dtype=float)
    sd = float(vals.std(ddof=1)) if replicates > 1 else math.nan
    fl = Floor(
        float(vals.mean()),
        sd / math.sqrt(replicates) if replicates > 1 else math.nan,
        sd,
        replicates,
        tuple(float(v) for v in vals),
        t(),
        key,
    )
    if key is not None:
        _remember(key, fl)
        if disk is not None:
            try:
                disk.mkdir(parents=True, exist_ok=True)
                tmp = disk / f".floor-{key}.json.tmp"
                tmp.write_text(json.dumps(fl.as_dict()))
                tmp.replace(disk / f"floor-{key}.json")
            except OSError:
                pass
    return fl


def _remember(key: str, fl: Floor) -> None:
    _CACHE[key] = fl
    _CACHE.move_to_end(key)
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)


def _seed_triples(seed: int, replicates: int) -> list[tuple[int, int, int]]:
    s = child_seeds(seed, 3 * replicates, 0xF1)
    return [(s[3 * i], s[3 * i + 1], s[3 * i + 2]) for i in range(replicates)]


def judge(record: MetricRecord, fl: Floor | None) -> MetricRecord:
    """``record`` with its floor filled in and ``meaningful`` set from the floor rule (module docstring).

    A record already flagged not meaningful stays so, except where the flag was only a prediction that
    the floor would swamp the signal (plug-in OT in d >= 10, note marked with
    :data:`~sgmbench.metrics.ot.FLOOR_DECIDES`) and the measured floor shows the value is resolvable.
    Bias that the floor cannot see (k-NN KL in high d) keeps its flag whatever the floor says.
    """
    if fl is None:
        return record
    rec = record.replace(floor=fl.value, floor_stderr=fl.stderr)
    f, fse = abs(fl.value), (fl.stderr if math.isfinite(fl.stderr) else 0.0)
    if record.metric in ("w2", "sliced_w2"):
        resolvable = record.value**2 > 3 * (f + 2 * fse) ** 2
    else:
        resolvable = record.value > 3 * (f + 2 * fse)
    if math.isfinite(record.ci_low):  # and the 95 % interval clears the floor
        resolvable = resolvable and record.ci_low > f
    if not resolvable:
        return rec.replace(meaningful=False).with_note(
            f"value {record.value:.3g} within 3x of its noise floor {fl.value:.3g} ± {fl.stderr:.2g}: "
            "not resolvable"
        )
    if not record.meaningful and FLOOR_DECIDES in record.note and "result_code" not in record.note:
        return rec.replace(meaningful=True).with_note("the measured floor shows the value is resolvable")
    return rec
