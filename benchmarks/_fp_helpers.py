r"""Helpers of the ``forward-processes`` and ``samplers`` studies (an underscore module: not a study).

What is here:

- the **horizon rule** of Gao–Nguyen–Zhu (``papers/bounds-wasserstein.md`` §1.5, "How to read the
  table"): :func:`rule_horizon` picks $T$ so that the initialisation term of the $W_2$ bound,
  $\frac{\alpha_T^2}{\alpha_T^2 + m_0\sigma_T^2}\|x_0\|_{L^2}$, equals ``share``$\cdot\varepsilon$ (default
  $\varepsilon/2$): ${\rm SNR}_T = \alpha_T^2/\sigma_T^2 = m_0 r/(1 - r)$ with
  $r = $ ``share``$\cdot\varepsilon/\|x_0\|_{L^2}$,
  then $T$ = the time where the process reaches that SNR (bisection on $\log\rho_t$, $\rho = 1/{\rm SNR}$).
  For VP this is $\int_0^T\beta \approx \log(\|x_0\|_{L^2}/(m_0\,{\rm share}\,\varepsilon))
  \sim \log(\sqrt d/\varepsilon)$, for VE $\sigma_T^2 \approx \|x_0\|_{L^2}/(m_0\,{\rm share}\,\varepsilon)
  \sim \sqrt d/\varepsilon$: the paper's rule;
- the **bisection** for the smallest number of uniform steps $K$ with exact $W_2 \le \varepsilon$
  (:func:`smallest_steps`, :func:`steps_needed`);
- the **cell functions** of both studies (:func:`fp_cell`, :func:`samplers_cell`);
- GNZ's **complexity table** as data (:func:`gnz_rows`), with the rows we derived for the processes the
  table does not list;
- the **extra report** of both studies (:func:`fp_report_extras`, :func:`samplers_report_extras`): the
  ranking of forward processes, the exponents beside GNZ's table, the sampler-order table and the
  bound-tightness table, with their figures.

Isotropic Gaussian targets $N(\mu\mathbf 1, \lambda I_d)$ with the exact score and the isotropic prior are a
product of $d$ identical one-dimensional problems, so $W_2^{(d)} = \sqrt d\,W_2^{(1)}$ *exactly*
(``papers/metrics-and-exact.md`` §3.4); the bisection evaluates the one-dimensional exact law (cost
$O(K)$ instead of $O(Kd)$) and multiplies by $\sqrt d$ (checked against the $d$-dimensional law in the
tests). A consequence worth stating: with the horizon rule above, $T$ depends on $(d, \varepsilon)$ only
through $\varepsilon/\|x_0\|_{L^2} \propto \varepsilon/\sqrt d$, and so does the condition
$W_2^{(1)} \le \varepsilon/\sqrt d$; hence $K(d, \varepsilon) = F(\sqrt d/\varepsilon)$, and the exponent
of $K$ in $d$ is exactly half its exponent in $1/\varepsilon$ -- for the measurement and for every row of
GNZ's table alike (all their entries are functions of $\sqrt d/\varepsilon$ up to logs).
"""

from __future__ import annotations

import functools
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sgmbench.errors import DivergenceError, SgmbenchError
from sgmbench.registry import format_spec, parse_spec

DTYPE = torch.float64

# The forward processes of the study: GNZ's eight classes, then three that their table does not list.
GNZ_PROCESSES = (
    "ve-exp",
    "ve-constant",
    "ve-sqrt",
    "ve-power",
    "vp-constant",
    "vp-linear",
    "vp-power",
    "vp-exp",
)
OTHER_PROCESSES = ("vp-cosine", "subvp", "edm")
ALL_PROCESSES = GNZ_PROCESSES + OTHER_PROCESSES

K_MAX = 1 << 22  # bisection cap on the number of steps (about 4.2e6)


# ------------------------------------------------------------------------------------------------
# Horizon rule
# ------------------------------------------------------------------------------------------------
def gaussian_params(target_spec: str) -> tuple[int, float, float]:
    """``(dim, mean, var)`` of an isotropic ``gaussian:`` target spec (scalar mean, var; no cond/rotate)."""
    name, params = parse_spec(target_spec)
    if name != "gaussian":
        raise SgmbenchError(f"expected an isotropic gaussian target, got {target_spec!r}")
    if float(params.get("cond", 1.0)) != 1.0 or str(params.get("rotate", False)).lower() == "true":
        raise SgmbenchError(f"the isotropic reduction needs cond=1 and rotate=false, got {target_spec!r}")
    try:
        return int(params["dim"]), float(params.get("mean", 0.0)), float(params.get("var", 1.0))
    except (KeyError, TypeError, ValueError):
        raise SgmbenchError(f"need scalar dim, mean and var in {target_spec!r}") from None


def target_constants(target_spec: str) -> tuple[float, float]:
    r"""$(\|x_0\|_{L^2}, m_0)$ of a target spec, as the horizon rule uses them.

    - isotropic Gaussian $N(\mu\mathbf 1, \lambda I_d)$: $\|x_0\|_{L^2}^2 = d(\mu^2 + \lambda)$,
      $m_0 = 1/\lambda$;
    - two-component mixture ``mixture:dim,components=2,separation=D,var=s2`` (means $\pm D/2$ along a line
      through 0): $\|x_0\|_{L^2}^2 = D^2/4 + d s^2$; $m_0 = 1/s^2 - D^2/(4s^4)$ (strong log-concavity,
      ``papers/bounds-wasserstein.md`` §3.2) when positive, else (not log-concave) the value
      $1/(s^2 + D^2/4)$ of the Gaussian with the mixture's covariance (a stand-in: the rule then only
      fixes a sensible scale for $T$).
    """
    name, p = parse_spec(target_spec)
    if name == "gaussian":
        d, mu, lam = gaussian_params(target_spec)
        return math.sqrt(d * (mu * mu + lam)), 1.0 / lam
    if name == "mixture":
        d = int(p.get("dim", 2))
        if int(p.get("components", 2)) != 2:
            raise SgmbenchError("the horizon rule is coded for two-component mixtures only")
        D, s2 = float(p.get("separation", 4.0)), float(p.get("var", 0.5))
        m0 = 1.0 / s2 - D * D / (4.0 * s2 * s2)
        return math.sqrt(D * D / 4.0 + d * s2), (m0 if m0 > 0 else 1.0 / (s2 + D * D / 4.0))
    raise SgmbenchError(f"no horizon rule for target {target_spec!r}")


def is_log_concave_mixture(target_spec: str) -> bool:
    """Two equal isotropic components are strongly log-concave iff the separation $D < 2s$."""
    _, p = parse_spec(target_spec)
    return float(p.get("separation", 4.0)) < 2.0 * math.sqrt(float(p.get("var", 0.5)))


@functools.cache
def _process(spec: str):
    from sgmbench.processes import get_process

    return get_process(spec)


def time_at_snr(process_spec: str, snr: float) -> float:
    r"""The time $t$ with ${\rm SNR}(t) = \alpha_t^2/\sigma_t^2 = $ ``snr``: bisection on $\log\rho_t$.

    Like :meth:`ForwardProcess.time_at_snr` but safe for ``vp-cosine`` (whose $\beta$ diverges at $t = 1$:
    the search stays in $[0, 1)$) and for processes whose default horizon is far from the answer.
    """
    p = _process(process_spec)
    target = math.log(1.0 / snr)

    def log_rho(t: float) -> float:
        return float(torch.log(p.rho(torch.tensor(t, dtype=DTYPE))))

    if p.name == "vp-cosine":
        hi = 1.0 - 1e-9
        if not log_rho(hi) >= target:
            raise SgmbenchError(f"vp-cosine does not reach SNR {snr:g} before t = 1")
    else:
        hi = float(p.default_horizon)
        for _ in range(200):
            if log_rho(hi) >= target:
                break
            hi *= 2.0
        else:
            raise SgmbenchError(f"{process_spec}: SNR {snr:g} is not reached")
    lo = 0.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if log_rho(mid) < target:
            lo = mid
        else:
            hi = mid
    return hi


def init_factor(process_spec: str, horizon: float, m0: float) -> float:
    r"""GNZ's initialisation factor $\alpha_T^2/(\alpha_T^2 + m_0\sigma_T^2)
    = {\rm SNR}_T/({\rm SNR}_T + m_0)$."""
    p = _process(process_spec)
    snr = float(p.snr(torch.tensor(float(horizon), dtype=DTYPE)))
    return snr / (snr + m0)


def rule_horizon(process_spec: str, target_spec: str, tol: float, share: float = 0.5) -> float:
    r"""$T$ with GNZ's initialisation term $\frac{\alpha_T^2}{\alpha_T^2 + m_0\sigma_T^2}\|x_0\|_{L^2}$
    $=$ ``share``$\cdot$``tol``
    (module docstring); rounded to 12 significant digits so that cell hashes are stable."""
    x0, m0 = target_constants(target_spec)
    r = share * float(tol) / x0
    if not 0 < r < 1:
        raise SgmbenchError(f"horizon rule: share*tol/|x0| = {r:g} must lie in (0, 1)")
    return float(f"{time_at_snr(process_spec, m0 * r / (1.0 - r)):.12g}")


def factor_horizon(process_spec: str, target_spec: str, factor: float) -> float:
    """$T$ at which GNZ's initialisation factor equals ``factor`` (the horizon sweep)."""
    _, m0 = target_constants(target_spec)
    return float(f"{time_at_snr(process_spec, m0 * factor / (1.0 - factor)):.12g}")


# ------------------------------------------------------------------------------------------------
# Exact W2 on isotropic Gaussians, and the bisection
# ------------------------------------------------------------------------------------------------
@functools.cache
def _one_dim_target(mean: float, var: float):
    from sgmbench.targets import get_target

    return get_target(f"gaussian:dim=1,mean={mean!r},var={var!r}")


def isotropic_w2(
    process_spec: str,
    horizon: float,
    steps: int,
    sampler: str,
    dim: int,
    mean: float,
    var: float,
    prior: str = "gaussian",
    grid: str = "uniform",
) -> float:
    r"""Exact $W_2$(generated, $p_0$) for $N(\mu\mathbf 1, \lambda I_d)$, exact score: $\sqrt d$ times
    the 1-D value.

    A diverged law (overflow) is $+\infty$.
    """
    from sgmbench.exact import exact_law, reference_law
    from sgmbench.grids import make_grid
    from sgmbench.metrics.gaussian import w2_diag

    proc = _process(process_spec)
    one = _one_dim_target(float(mean), float(var))
    g = make_grid(grid, proc, float(horizon), 0.0, int(steps))
    try:
        law = exact_law(one, proc, g, sampler, None, prior=prior)
    except DivergenceError:
        return math.inf
    ref = reference_law(one, proc, 0.0)
    m, v = law.mean.numpy(), law.var.numpy()
    if not (np.all(np.isfinite(m)) and np.all(np.isfinite(v))):
        return math.inf
    return math.sqrt(dim) * float(w2_diag(ref.mean.numpy(), ref.var.numpy(), m, v))


def smallest_steps(
    error: Callable[[int], float],
    tol: float,
    *,
    k_min: int = 1,
    k_max: int = K_MAX,
    rel_tol: float = 0.0,
) -> dict[str, Any]:
    r"""The smallest $K \in [k_{\min}, k_{\max}]$ with ``error(K)`` $\le$ ``tol``, assuming ``error``
    decreases in $K$.

    Doubling from ``k_min`` until ``error`` $\le$ ``tol`` brackets the answer in $(K/2, K]$; bisection then
    narrows $(lo, hi]$ until $hi - lo \le \max(1, \lfloor$``rel_tol``$\cdot hi\rfloor)$
    (``rel_tol = 0``: the exact
    integer). Returns ``K`` ($= hi$, satisfies the tolerance), ``K_low`` ($lo + 1$: the answer lies in
    ``[K_low, K]``), ``error`` at ``K``, ``evaluations`` and ``censored`` (``True`` when even ``k_max``
    misses the tolerance; ``K`` is then ``None``).
    """
    cache: dict[int, float] = {}

    def f(k: int) -> float:
        if k not in cache:
            cache[k] = float(error(k))
        return cache[k]

    lo, k = None, int(k_min)
    while True:
        if f(k) <= tol:
            hi = k
            break
        lo = k
        if k >= k_max:
            return {
                "K": None,
                "K_low": k_max + 1,
                "error": f(k_max),
                "evaluations": len(cache),
                "censored": True,
            }
        k = min(2 * k, int(k_max))
    if lo is None:
        return {"K": hi, "K_low": hi, "error": f(hi), "evaluations": len(cache), "censored": False}
    while hi - lo > max(1, int(rel_tol * hi)):
        mid = (lo + hi) // 2
        if f(mid) <= tol:
            hi = mid
        else:
            lo = mid
    return {"K": hi, "K_low": lo + 1, "error": f(hi), "evaluations": len(cache), "censored": False}


def steps_needed(
    process_spec: str,
    sampler: str,
    target_spec: str,
    tol: float,
    *,
    share: float = 0.5,
    rel_tol: float = 0.0,
    k_max: int = K_MAX,
    check_monotone: bool = True,
) -> dict[str, Any]:
    r"""The complexity of one (process, sampler, $d$, $\varepsilon$): horizon by :func:`rule_horizon`,
    then the
    smallest uniform step count $K$ with exact $W_2(\text{generated}, p_0) \le \varepsilon$
    (prior $N(0, \sigma_T^2 I)$).

    ``check_monotone``: also evaluates $W_2$ at $2K$; ``monotone`` is false if it exceeds $\varepsilon$
    there (the
    bisection's monotonicity assumption failed nearby).
    """
    d, mu, lam = gaussian_params(target_spec)
    T = rule_horizon(process_spec, target_spec, tol, share)

    def err(k: int) -> float:
        return isotropic_w2(process_spec, T, k, sampler, d, mu, lam)

    res = smallest_steps(err, tol, rel_tol=rel_tol, k_max=k_max)
    res["horizon"] = T
    res["monotone"] = None
    if check_monotone and not res["censored"]:
        res["w2_at_2K"] = err(2 * res["K"])
        res["monotone"] = bool(res["w2_at_2K"] <= tol)
    x0, m0 = target_constants(target_spec)
    res["init_factor"] = init_factor(process_spec, T, m0)
    res["init_term_bound"] = res["init_factor"] * x0
    return res


def continuous_init_w2(process_spec: str, horizon: float, target_spec: str) -> float:
    r"""$W_2$ of the continuous-time reverse SDE with the exact score from $N(0, \sigma_T^2 I)$: the pure
    initialisation error (``sgmbench.exact.continuous_law``; isotropic Gaussians via the 1-D law)."""
    from sgmbench.exact import continuous_law, reference_law
    from sgmbench.metrics.gaussian import w2_diag

    d, mu, lam = gaussian_params(target_spec)
    one = _one_dim_target(mu, lam)
    proc = _process(process_spec)
    law = continuous_law(one, proc, float(horizon), 0.0, prior="gaussian")
    ref = reference_law(one, proc, 0.0)
    return math.sqrt(d) * float(w2_diag(ref.mean.numpy(), ref.var.numpy(), law.mean.numpy(), law.var.numpy()))


# ------------------------------------------------------------------------------------------------
# GNZ's complexity table as data (+ our derived rows)
# ------------------------------------------------------------------------------------------------
GNZ_PROVENANCE = "verified (authors' README image)"
DERIVED_PROVENANCE = "derived by us with GNZ's horizon rule (not in GNZ's table)"
# Strength of the logarithmic factor of K, to break ties between equal powers (smaller = fewer steps).
LOG_STRENGTH = {"": 0.0, "log(log(d/eps))": 0.1, "sqrt(log(d/eps))": 0.5, "log(d/eps)": 1.0}


def _log_strength(log: str) -> float:
    if log in LOG_STRENGTH:
        return LOG_STRENGTH[log]
    if log.startswith("log(d/eps)^(1/(rho+1))"):
        return 0.34  # rho = 2 (the registry default): log^(1/3)
    return 1.0


def gnz_rows(process_spec: str) -> dict[str, Any]:
    r"""GNZ's exponents of $K$ (iterations to $W_2 \le \varepsilon$) in $d$ and in $1/\varepsilon$
    (logs dropped), the
    dropped log factor and the provenance; our derivation (same rule) for ``vp-cosine``, ``subvp``,
    ``edm``."""
    from sgmbench.bounds.gnz import complexity_exponents

    proc = _process(process_spec)
    row = complexity_exponents(proc)
    if row is not None:
        k = row["K"]
        log = k.get("log", "")
        if proc.name == "vp-power":
            rho = float(proc.params.get("rho", 2.0))
            log = f"log(d/eps)^(1/(rho+1)) = log^{1 / (rho + 1):.3g}"
        return {"K_d": k["d"], "K_inv_eps": -k["eps"], "log": log, "provenance": GNZ_PROVENANCE}
    derived = {
        # cosine: beta -> infinity at t = 1, so the rule gives T < 1 bounded: K = T/eta ~ d/eps^2, no log
        "vp-cosine": {"K_d": 1.0, "K_inv_eps": 2.0, "log": ""},
        # sub-VP with linear beta: alpha_T as for vp-linear, sigma_T^2 = (1 - alpha_T^2)^2: T ~ sqrt(log)
        "subvp": {"K_d": 1.0, "K_inv_eps": 2.0, "log": "sqrt(log(d/eps))"},
        # EDM sigma(t) = t is the 've-sqrt' class g = sqrt(2 a t) with a = 1
        "edm": {"K_d": 1.25, "K_inv_eps": 2.5, "log": ""},
    }.get(proc.name)
    if derived is None:
        return {"K_d": float("nan"), "K_inv_eps": float("nan"), "log": "", "provenance": "no row"}
    return {**derived, "provenance": DERIVED_PROVENANCE}


def theory_rank_key(process_spec: str) -> tuple[float, float]:
    """Asymptotic order of GNZ's K in $u = \\sqrt d/\\varepsilon$: (power of u, log strength); smaller is
    fewer steps."""
    r = gnz_rows(process_spec)
    return (float(r["K_inv_eps"]), _log_strength(r["log"]))


# ------------------------------------------------------------------------------------------------
# Records
# ------------------------------------------------------------------------------------------------
def record(value: float | None, **fields: Any) -> dict[str, Any]:
    """An exact metric record (``value``, ``exact``, ``stderr`` 0, ``floor`` 0, plus ``fields``)."""
    v = float("nan") if value is None else float(value)
    return {"value": v, "exact": True, "stderr": 0.0, "floor": 0.0, **fields}


def _bounds_as(rows: Sequence[Mapping[str, Any]], metric: str) -> list[dict[str, Any]]:
    """The bound rows relabelled to the measured series they are compared with (``metric``); the bound's own
    metric is kept as ``bound_metric``. This lets the report's figures and rate verdicts pair a bound with
    the sweep it belongs to (e.g. ``w2_score``: W2 under a biased score)."""
    out = []
    for r in rows:
        r = dict(r)
        r["bound_metric"] = r.get("metric")
        r["metric"] = metric
        out.append(r)
    return out


def _measure_with_bounds(cell, metrics: Sequence[str], rename: Mapping[str, str] | None = None, bounds=True):
    """:func:`sgmbench.measure.measure` with details, then the cell's bounds on the same setting (when
    ``bounds``), metric names changed by ``rename`` (the bounds' rows relabelled alike)."""
    from sgmbench.measure import evaluate_bounds, measure

    out = measure(cell.setting, metrics, details=True)
    if bounds and cell.bounds:
        try:
            rows = evaluate_bounds(cell.setting, out["metrics"], cell.bounds)
        except Exception as exc:  # a bound's failure must not lose the measured metrics
            out["bounds_error"] = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
        else:
            out["bounds"] = _bounds_as(rows, rename.get("w2", "w2")) if rename else rows
    if rename:
        out["metrics"] = {rename.get(k, k): v for k, v in out["metrics"].items()}
    return out


# ------------------------------------------------------------------------------------------------
# Cell functions
# ------------------------------------------------------------------------------------------------
def fp_cell(cell) -> dict[str, Any]:
    """Cell function of ``forward-processes``; the extra ``task`` says what to compute:

    - ``complexity``: :func:`steps_needed` (extras ``tol``, ``rel_tol``): metrics ``steps_needed`` ($K$),
      ``horizon_T``, ``w2_at_K`` (exact $W_2$ at $K$), ``init_w2`` (continuous-time $W_2$ from the prior
      alone: the floor as $K \\to \\infty$);
    - ``steps``: exact $W_2$ (metric ``w2``) with the study's bounds (GNZ upper, Gaussian lower);
    - ``score``: $W_2$ with a biased score (metric ``w2_score``) and the bounds, relabelled;
    - ``horizon``: $W_2$ at horizon $T$ (``w2_horizon``) and the continuous-time init-only $W_2$
      (``init_w2_ct``), with the bounds relabelled;
    - ``mixture``: sample-based $W_2$ on a Gaussian mixture (``w2_mixture``, with its noise floor) and the
      bounds (inapplicable: reported with the failed assumptions).
    """
    task = cell.extra("task")
    t0 = time.perf_counter()
    s = cell.setting
    if task == "complexity":
        tol = float(cell.extra("tol"))
        res = steps_needed(s.process, s.sampler, s.target, tol, rel_tol=float(cell.extra("rel_tol", 0.0)))
        d, _, _ = gaussian_params(s.target)
        note = f"censored: K > {K_MAX}" if res["censored"] else ""
        extra = {
            "K_low": res["K_low"],
            "evaluations": res["evaluations"],
            "censored": res["censored"],
            "monotone": res["monotone"],
            "init_factor": res["init_factor"],
            "note": note,
        }
        metrics = {
            "steps_needed": record(res["K"], **extra),
            "horizon_T": record(res["horizon"]),
            "w2_at_K": record(res["error"]),
            "init_w2": record(continuous_init_w2(s.process, res["horizon"], s.target)),
        }
        setting = {**s.as_dict(), "horizon": res["horizon"], "dim": d}
        if res["K"] is not None:
            setting["steps"] = int(res["K"])  # so that the report's h = T/K is the step size found
        info = {"path": "exact (isotropic: sqrt(d) x 1-D law)", "runtime_s": time.perf_counter() - t0}
        return {"setting": setting, "metrics": metrics, "info": info}
    if task == "steps":
        return _measure_with_bounds(cell, ("w2",))
    if task == "score":
        return _measure_with_bounds(cell, ("w2",), {"w2": "w2_score"})
    if task == "horizon":
        out = _measure_with_bounds(cell, ("w2",), {"w2": "w2_horizon"})
        out["metrics"]["init_w2_ct"] = record(continuous_init_w2(s.process, s.horizon, s.target))
        return out
    if task == "mixture":
        return _measure_with_bounds(cell, ("w2",), {"w2": "w2_mixture"})
    raise SgmbenchError(f"forward-processes: unknown task {task!r}")


def samplers_cell(cell) -> dict[str, Any]:
    """Cell function of ``samplers``: the exact metrics, and the study's bounds on exponential-integrator
    cells only (every bound of the study assumes that sampler: on the others all are inapplicable, and
    evaluating them at 16k steps costs ~1 s for nothing)."""
    return _measure_with_bounds(cell, cell.metrics, bounds=cell.setting.sampler == "exponential-integrator")


# ------------------------------------------------------------------------------------------------
# Study rows
# ------------------------------------------------------------------------------------------------
def gaussian_spec(dim: int, mean: float, var: float) -> str:
    return format_spec("gaussian", {"dim": int(dim), "mean": mean, "var": var})


# ------------------------------------------------------------------------------------------------
# Extra report: tables and figures the generic report cannot make
# ------------------------------------------------------------------------------------------------
KMIN_FIT = 10  # K below this is dominated by integer rounding: left out of the exponent fits
FIG_COLS = 4


def _open_store(store):
    from sgmbench.store import Store

    if isinstance(store, (str, Path)):
        if not Path(store).exists():
            raise SgmbenchError(f"store {store} does not exist")
        return Store(store, readonly=True)
    return store


def _frames(store, study: str):
    from sgmbench.store import bounds_frame, long_frame

    rows = _open_store(store).rows(study)
    if not rows:
        raise SgmbenchError(f"the store has no results for study {study!r}")
    df = long_frame(rows)
    return df[df["status"] == "ok"].copy(), bounds_frame(rows)


def _slope(x, y) -> float:
    """Least-squares slope of log y on log x (NaN with fewer than 2 distinct finite positive points)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if len(np.unique(x[ok])) < 2:
        return float("nan")
    return float(np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0])


def _tail_slope(x, y, n: int = 2) -> float:
    """Slope over the ``n`` largest distinct x (duplicates averaged in log)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    xs = np.unique(x[ok])
    if xs.size < 2:
        return float("nan")
    keep = xs[-n:]
    ly = [np.mean(np.log(y[ok][x[ok] == v])) for v in keep]
    return float(np.polyfit(np.log(keep), ly, 1)[0])


def _write(df, stem: Path, preamble: str | None = None) -> list[Path]:
    """CSV, Markdown (with an optional explanatory preamble) and LaTeX, like ``report.write_table``."""
    from sgmbench.report import to_latex, to_markdown

    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_name(stem.name + ext) for ext in (".csv", ".md", ".tex")]  # stems may contain dots
    df.to_csv(paths[0], index=False)
    paths[1].write_text((preamble.rstrip() + "\n\n" if preamble else "") + to_markdown(df))
    paths[2].write_text(to_latex(df))
    return paths


def _style():
    import matplotlib.pyplot as plt

    from sgmbench import plots  # noqa: F401  (Agg backend)

    return plt


def _palette(keys):
    import seaborn as sns

    keys = list(keys)
    colors = sns.color_palette("tab10", 10) + sns.color_palette("Dark2", 8)
    markers = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "h", "*"]
    return {k: colors[i % len(colors)] for i, k in enumerate(keys)}, {
        k: markers[i % len(markers)] for i, k in enumerate(keys)
    }


def _panel_grid(n: int, ncols: int = FIG_COLS, w: float = 3.6, h: float = 3.0):
    plt = _style()
    ncols = max(1, min(ncols, n))
    nrows = int(math.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(w * ncols + 0.6, h * nrows + 0.8), squeeze=False)
    flat = axes.ravel()
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _save(fig, stem: Path) -> list[Path]:
    from sgmbench.plots import save

    return save(fig, stem)


def _terms(js: str) -> dict[str, float]:
    try:
        d = json.loads(js) if isinstance(js, str) else {}
    except ValueError:
        d = {}
    return {k: (float(v) if v is not None else float("nan")) for k, v in d.items()}


def _order(processes) -> list[str]:
    known = [p for p in ALL_PROCESSES if p in set(processes)]
    return known + sorted(set(processes) - set(known))


def _gnz_formula(row: Mapping[str, Any]) -> str:
    if not np.isfinite(row["K_d"]):
        return "—"
    s = f"d^{row['K_d']:g} / eps^{row['K_inv_eps']:g}"
    return s + (f" x {row['log']}" if row["log"] else "")


# --- forward-processes ----------------------------------------------------------------------------
def complexity_frame(ok) -> Any:
    """The ``steps_needed`` rows with ``u`` = $\\sqrt d/\\varepsilon$, ``K`` and ``horizon``."""
    cx = ok[ok["metric"] == "steps_needed"].copy()
    if cx.empty:
        return cx
    cx["K"] = cx["value"].astype(float)
    cx["dim"] = cx["dim"].astype(float)
    cx["tol"] = cx["tol"].astype(float)
    cx["u"] = np.sqrt(cx["dim"]) / cx["tol"]
    return cx


def complexity_exponents(cx) -> Any:
    r"""Per (process, sampler): fitted exponents of $K$ in $d$ (at fixed $\varepsilon$, median over
    $\varepsilon$) and in
    $1/\varepsilon$ (at fixed $d$, median over $d$), in $u = \sqrt d/\varepsilon$ over all points and
    locally at the
    largest $u$, beside GNZ's exponents; points with $K <$ :data:`KMIN_FIT` are left out."""
    import pandas as pd

    out = []
    for (proc, smp), g in cx.groupby(["process", "sampler"], sort=False):
        v = g[np.isfinite(g["K"]) & (g["K"] >= KMIN_FIT)]
        d_sl = [_slope(h["dim"], h["K"]) for _, h in v.groupby("tol") if h["dim"].nunique() >= 3]
        e_sl = [-_slope(h["tol"], h["K"]) for _, h in v.groupby("dim") if h["tol"].nunique() >= 3]
        d_sl, e_sl = [x for x in d_sl if np.isfinite(x)], [x for x in e_sl if np.isfinite(x)]
        # collapse check: cells with the same u must need the same K (up to the bisection's precision)
        spread = 0.0
        for _, h in v.groupby(v["u"].round(9)):
            if len(h) > 1:
                spread = max(spread, float(h["K"].max() / h["K"].min() - 1.0))
        gnz = gnz_rows(proc)
        out.append(
            {
                "process": proc,
                "sampler": smp,
                "d-exponent measured (median)": float(np.median(d_sl)) if d_sl else float("nan"),
                "d-exponent range": f"[{min(d_sl):.2f}, {max(d_sl):.2f}]" if d_sl else "—",
                "d-exponent GNZ": gnz["K_d"],
                "1/eps-exponent measured (median)": float(np.median(e_sl)) if e_sl else float("nan"),
                "1/eps-exponent range": f"[{min(e_sl):.2f}, {max(e_sl):.2f}]" if e_sl else "—",
                "1/eps-exponent GNZ": gnz["K_inv_eps"],
                "u-exponent (all points)": _slope(v["u"], v["K"]),
                "u-exponent at largest u": _tail_slope(v["u"], v["K"]),
                "GNZ log factor (dropped)": gnz["log"] or "—",
                "GNZ provenance": gnz["provenance"],
                "points": int(len(v)),
                "same-u spread of K": spread,
                "censored": int(g["record.censored"].fillna(False).astype(bool).sum())
                if "record.censored" in g
                else 0,
            }
        )
    return pd.DataFrame(out)


def ranking_tables(cx, exps) -> tuple[Any, str]:
    """Per sampler: the processes ranked by the measured $K$ at the hardest setting (largest $u$, then largest
    $d$), beside GNZ's predicted ranking (exponent of $1/\\varepsilon$, then the dropped log factor; ties
    share
    a rank) and the ranking by the fitted local exponent; Spearman correlations. Returns (table, text)."""
    import pandas as pd
    from scipy import stats

    rows, notes = [], []
    for smp, g in cx.groupby("sampler", sort=False):
        g = g[np.isfinite(g["K"])]
        if g.empty:
            continue
        umax = g["u"].max()
        at = g[np.isclose(g["u"], umax)]
        at = at[at["dim"] == at["dim"].max()]
        d_star, e_star = float(at["dim"].iloc[0]), float(at["tol"].iloc[0])
        t = at[["process", "K", "horizon"]].copy()
        t["measured rank"] = t["K"].rank(method="min").astype(int)
        keys = {p: theory_rank_key(p) for p in t["process"]}
        t["GNZ K (logs dropped in the rank only for ties)"] = [
            _gnz_formula(gnz_rows(p)) for p in t["process"]
        ]
        t["GNZ-predicted rank"] = [
            1 + sum(1 for p2 in t["process"] if keys[p2] < keys[p]) for p in t["process"]
        ]
        t["GNZ provenance"] = [gnz_rows(p)["provenance"] for p in t["process"]]
        e = exps[exps["sampler"] == smp].set_index("process")["u-exponent at largest u"]
        t["local exponent of K in u"] = [float(e.get(p, np.nan)) for p in t["process"]]
        t["rank by local exponent"] = t["local exponent of K in u"].rank(method="min").astype("Int64")
        t = t.sort_values(["measured rank", "process"])
        t.insert(0, "sampler", smp)
        t.insert(1, "d", int(d_star))
        t.insert(2, "eps", e_star)
        rows.append(t)
        in_table = t["GNZ provenance"] == GNZ_PROVENANCE
        rho_all = stats.spearmanr(t["measured rank"], t["GNZ-predicted rank"]).statistic
        rho_gnz = stats.spearmanr(
            t.loc[in_table, "measured rank"], t.loc[in_table, "GNZ-predicted rank"]
        ).statistic
        rho_exp = stats.spearmanr(
            t["rank by local exponent"].astype(float), t["GNZ-predicted rank"]
        ).statistic
        notes.append(
            f"- **{smp}** at d = {int(d_star)}, eps = {e_star:g} (u = sqrt(d)/eps = {umax:.4g}): "
            "Spearman rank "
            f"correlation measured vs GNZ-predicted = {rho_all:.2f} (all {len(t)} processes), "
            f"{rho_gnz:.2f} (the {int(in_table.sum())} rows of GNZ's table); local exponent vs predicted = "
            f"{rho_exp:.2f}. Fewest steps: {t['process'].iloc[0]} (K = {int(t['K'].iloc[0])}); most: "
            f"{t['process'].iloc[-1]} (K = {int(t['K'].iloc[-1])})."
        )
    table = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    text = "\n".join(notes)
    return table, text


RANKING_PREAMBLE = """# Forward processes ranked by the steps they need: measured, and by GNZ's table

Target N(1, 0.5 I_d), exact score, uniform steps, prior N(0, sigma_T^2 I); T by GNZ's rule (initialisation
term of their bound = eps/2); K = the smallest number of steps with exact W2(generated, p_0) <= eps
(bisection, 0.2 % precision). The measured rank is by K at the hardest setting of the run; the
GNZ-predicted rank orders the processes by the power of 1/eps in their K (equivalently of sqrt(d)/eps,
since every entry of the table is a function of it), ties broken by the logarithmic factor they drop
(loglog < log^(1/3) < sqrt(log) < log); equal keys share a rank. Rows marked "derived by us" are not in
GNZ's table: vp-cosine (beta diverges at t = 1: T < 1 bounded, K ~ d/eps^2 without log), subvp (as
vp-linear), edm (sigma(t) = t is GNZ's 'VE sqrt' class with a = 1).

Caveats: GNZ's table gives O(.) upper bounds, so it predicts an ordering only asymptotically and up to
constants; the processes use their registry parameters (beta 0.1 -> 20 etc.), which set the constants.
For VE processes (f = 0) the classes differ only by the clock in which the uniform grid is laid
(ve-constant: uniform in sigma^2; ve-sqrt and edm: in sigma; ve-exp: in log sigma), and K does not depend
on a rescaling of time (edm and ve-sqrt give identical K). For an isotropic Gaussian K depends on (d, eps)
only through sqrt(d)/eps (see complexity_exponents.md).
"""


def fp_report_extras(
    store, study: str = "forward-processes", results_dir: str | Path = "results"
) -> list[Path]:
    """Write the extra tables and figures of ``forward-processes`` into ``results_dir/study``."""
    ok, pairs = _frames(store, study)
    out = Path(results_dir) / study
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    cx = complexity_frame(ok)
    if not cx.empty:
        exps = complexity_exponents(cx)
        files += _write(exps, out / "complexity_exponents", EXPONENTS_PREAMBLE)
        table, text = ranking_tables(cx, exps)
        files += _write(table, out / "ranking", RANKING_PREAMBLE + "\n" + text)
        files += _fig_complexity(cx, out / "steps_needed_vs_u")
    files += _fig_steps(ok, pairs, out)
    files += _fig_score(ok, pairs, out / "w2_vs_score_error_by_process")
    files += _fig_horizon(ok, pairs, out / "w2_vs_horizon_by_process")
    files += _fig_mixture(ok, out / "w2_mixture_with_floor")
    tight = fp_tightness(ok, pairs)
    if not tight.empty:
        files += _write(tight, out / "gnz_tightness", TIGHTNESS_FP_PREAMBLE)
    return files


EXPONENTS_PREAMBLE = """# Fitted exponents of K (steps for W2 <= eps) beside Gao-Nguyen-Zhu's complexity table

K ~ d^a eps^-b. Measured: least-squares slopes of log K on log d at each fixed eps (median and range over
eps) and of log K on log(1/eps) at each fixed d (median and range over d); points with K < 10 are left
out (integer rounding). u = sqrt(d)/eps: for an isotropic Gaussian with GNZ's horizon rule K is a
function of u alone, so the d-exponent is half the 1/eps-exponent and cells with equal u need the same K
("same-u spread": relative spread of K among such cells, 0 up to the 0.2 % bisection precision). GNZ:
the exponents of their O(.) table (authors' README image), logs dropped; rows "derived by us" are not in
their table. GNZ's exponents are those of an upper bound (d/eps^2 for VP), the measured ones those of
the exact error, which is first order in h (W2 ~ sqrt(d) h): expect about half of GNZ's exponents
(K ~ sqrt(d)/eps, GNZ's Gaussian lower-bound regime) for VP, and for VE the effect of the clock.
"""

TIGHTNESS_FP_PREAMBLE = """# GNZ's W2 bound (our explicit constants) against the exact W2, per sweep

steps: exponential integrator from p_T (discretisation only); ratio = bound/measured at the smallest and
largest N, fitted slopes vs N over the 4 largest N (bound: about -1/2; measured: about -1);
lower = measured / (sqrt(d) h), the Gaussian lower bound's scaling (constant unknown: only its rate is
meaningful). score: bias of size M, d = 4, 4096 steps, from p_T; the score term of the bound vs the
measured W2 (slopes vs M over the 3 largest M). horizon: prior N(0, sigma_T^2 I), 4096 steps; the bound's
initialisation term vs the
continuous-time init-only W2 (exact).
"""


def fp_tightness(ok, pairs) -> Any:
    import pandas as pd

    if pairs is None or pairs.empty:
        return pd.DataFrame()
    out = []
    up = pairs[(pairs["bound"] == "gnz2025-w2") & pairs["applicable"]]
    lo = pairs[(pairs["bound"] == "gnz2025-gaussian-lower") & pairs["applicable"]]
    st = up[up["metric"] == "w2"]
    for (proc, d), g in st.groupby(["process", "dim"], sort=False):
        g = g.sort_values("steps")
        tail = g.tail(4)
        lg = lo[(lo["process"] == proc) & (lo["dim"] == d) & (lo["metric"] == "w2")].sort_values("steps")
        out.append(
            {
                "sweep": "steps",
                "process": proc,
                "dim": int(d),
                "x range": f"N = {int(g['steps'].min())}..{int(g['steps'].max())}",
                "ratio at smallest x": float(g["ratio"].iloc[0]),
                "ratio at largest x": float(g["ratio"].iloc[-1]),
                "measured slope": _slope(tail["steps"], tail["measured"]),
                "bound slope": _slope(tail["steps"], tail["bound_value"]),
                "holds": bool(g["holds"].fillna(True).astype(bool).all()),
                "measured/(sqrt(d) h) range": (
                    f"{(lg['measured'] / lg['bound_value']).min():.3g}.."
                    f"{(lg['measured'] / lg['bound_value']).max():.3g}"
                    if not lg.empty
                    else "—"
                ),
            }
        )
    sc = up[up["metric"] == "w2_score"]
    for proc, g in sc.groupby("process", sort=False):
        g = g.sort_values("eps")
        score = np.array([_terms(t).get("score", np.nan) for t in g["terms"]])
        out.append(
            {
                "sweep": "score",
                "process": proc,
                "dim": int(g["dim"].iloc[0]),
                "x range": f"M = {g['eps'].min():g}..{g['eps'].max():g}",
                "ratio at smallest x": float(g["ratio"].iloc[0]),
                "ratio at largest x": float(g["ratio"].iloc[-1]),
                "measured slope": _slope(g["eps"].tail(3), g["measured"].tail(3)),
                "bound slope": _slope(g["eps"].tail(3), g["bound_value"].tail(3)),
                "holds": bool(g["holds"].fillna(True).astype(bool).all()),
                "score term / measured at largest M": float(score[-1] / g["measured"].iloc[-1]),
            }
        )
    hz = up[up["metric"] == "w2_horizon"]
    ct = ok[ok["metric"] == "init_w2_ct"]
    for proc, g in hz.groupby("process", sort=False):
        g = g.sort_values("init_factor")
        init = np.array([_terms(t).get("initialisation", np.nan) for t in g["terms"]])
        c = ct[ct["process"] == proc].set_index("init_factor")["value"]
        ratio_init = init / np.array([float(c.get(f, np.nan)) for f in g["init_factor"]])
        out.append(
            {
                "sweep": "horizon",
                "process": proc,
                "dim": int(g["dim"].iloc[0]),
                "x range": f"init factor {g['init_factor'].min():g}..{g['init_factor'].max():g}",
                "ratio at smallest x": float(g["ratio"].iloc[0]),
                "ratio at largest x": float(g["ratio"].iloc[-1]),
                "measured slope": _slope(g["init_factor"].tail(3), g["measured"].tail(3)),
                "bound slope": _slope(g["init_factor"].tail(3), g["bound_value"].tail(3)),
                "holds": bool(g["holds"].fillna(True).astype(bool).all()),
                "init term / exact init-only W2": f"{np.nanmin(ratio_init):.4g}..{np.nanmax(ratio_init):.4g}",
            }
        )
    return pd.DataFrame(out)


def _fig_complexity(cx, stem: Path) -> list[Path]:
    plt = _style()
    samplers = list(dict.fromkeys(cx["sampler"]))
    procs = _order(cx["process"].unique())
    colors, markers = _palette(procs)
    fig, axes = plt.subplots(
        1, len(samplers), figsize=(5.2 * len(samplers) + 2.2, 4.4), squeeze=False, sharey=True
    )
    for ax, smp in zip(axes[0], samplers):
        g = cx[(cx["sampler"] == smp) & np.isfinite(cx["K"])]
        for p in procs:
            h = g[g["process"] == p].groupby("u")["K"].mean().reset_index().sort_values("u")
            if not h.empty:
                ax.plot(h["u"], h["K"], marker=markers[p], ms=3.5, lw=1.2, color=colors[p], label=p)
        if not g.empty:
            u = np.geomspace(g["u"].min(), g["u"].max(), 20)
            k0 = float(g["K"].median())
            u0 = float(np.sqrt(g["u"].min() * g["u"].max()))
            for s, ls in ((1, "--"), (2, ":"), (3, "-.")):
                ax.plot(u, k0 * (u / u0) ** s, ls, color="0.5", lw=0.8, label=f"reference slope {s}")
            ax.set_ylim(float(g["K"].min()) / 2, float(g["K"].max()) * 2)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(r"$u = \sqrt{d}/\varepsilon$")
        ax.set_title(smp, fontsize=9)
        ax.grid(True, which="both", alpha=0.25)
    axes[0][0].set_ylabel(r"steps $K$ needed for $W_2 \leq \varepsilon$")
    axes[0][-1].legend(fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left")
    fig.suptitle(
        "forward-processes: steps needed vs sqrt(d)/eps (GNZ: K ~ u^2 for VP, u^2..u^3 for VE)", fontsize=10
    )
    fig.tight_layout()
    return _save(fig, stem)


def _bound_rows(pairs, metric: str, bound: str):
    if pairs is None or pairs.empty:
        return pairs
    return pairs[(pairs["metric"] == metric) & (pairs["bound"] == bound) & pairs["applicable"]]


def _fig_steps(ok, pairs, out: Path) -> list[Path]:
    st = ok[ok["metric"] == "w2"]
    if st.empty:
        return []
    files = []
    up, lo = _bound_rows(pairs, "w2", "gnz2025-w2"), _bound_rows(pairs, "w2", "gnz2025-gaussian-lower")
    samplers = list(dict.fromkeys(st["sampler"]))
    colors, markers = _palette(samplers)
    for d in sorted(st["dim"].astype(int).unique()):
        sd = st[st["dim"] == d]
        procs = _order(sd["process"].unique())
        fig, axes = _panel_grid(len(procs))
        for ax, p in zip(axes, procs):
            sp = sd[sd["process"] == p]
            for smp in samplers:
                g = sp[sp["sampler"] == smp].sort_values("steps")
                if not g.empty:
                    ax.plot(g["steps"], g["value"], marker=markers[smp], ms=3, color=colors[smp], label=smp)
            for b, ls, c, lab in (
                (up, ":", colors.get("exponential-integrator", "k"), "gnz2025-w2 (EI)"),
                (lo, "-.", "0.45", "sqrt(d) h (lower-bound scaling)"),
            ):
                if b is not None and not b.empty:
                    g = b[(b["process"] == p) & (b["dim"] == d)].sort_values("steps")
                    if not g.empty:
                        ax.plot(g["steps"], g["bound_value"], ls, color=c, lw=1.3, label=lab)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            T = float(sp["horizon"].iloc[0]) if not sp.empty else float("nan")
            ax.set_title(f"{p} (T = {T:.3g})", fontsize=9)
            ax.set_xlabel("steps N")
            ax.set_ylabel(r"$W_2$ from $p_T$")
            ax.grid(True, which="both", alpha=0.25)
        axes[0].legend(fontsize=6.5)
        fig.suptitle(
            f"forward-processes: exact W2 vs steps, d = {d} (T by GNZ's rule at eps = 0.1)", fontsize=10
        )
        fig.tight_layout()
        files += _save(fig, out / f"w2_vs_steps_d{d}")
    return files


def _fig_score(ok, pairs, stem: Path) -> list[Path]:
    sc = ok[ok["metric"] == "w2_score"]
    if sc.empty:
        return []
    up = _bound_rows(pairs, "w2_score", "gnz2025-w2")
    procs = _order(sc["process"].unique())
    fig, axes = _panel_grid(len(procs))
    for ax, p in zip(axes, procs):
        g = sc[sc["process"] == p].sort_values("eps")
        if up is not None and not up.empty:
            b = up[up["process"] == p].sort_values("eps")
            if not b.empty:
                ax.plot(b["eps"], b["bound_value"], ":", color="C3", lw=1.4, label="gnz2025-w2 (total)")
                score = [_terms(t).get("score", np.nan) for t in b["terms"]]
                ax.plot(b["eps"], score, "-", color="C2", lw=4, alpha=0.35, label="its score term")
        ax.plot(g["eps"], g["value"], "o--", ms=3, lw=1.0, color="C0", label="measured W2")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(p, fontsize=9)
        ax.set_xlabel("score bias M")
        ax.set_ylabel(r"$W_2$")
        ax.grid(True, which="both", alpha=0.25)
    axes[0].legend(fontsize=6.5)
    d = int(sc["dim"].iloc[0])
    title = f"forward-processes: W2 vs score error M (bias), EI, 4096 steps from p_T, d = {d}"
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, stem)


def _fig_horizon(ok, pairs, stem: Path) -> list[Path]:
    hz = ok[ok["metric"] == "w2_horizon"]
    if hz.empty:
        return []
    ct = ok[ok["metric"] == "init_w2_ct"]
    up = _bound_rows(pairs, "w2_horizon", "gnz2025-w2")
    procs = _order(hz["process"].unique())
    fig, axes = _panel_grid(len(procs))
    for ax, p in zip(axes, procs):
        g = hz[hz["process"] == p].sort_values("init_factor")
        if up is not None and not up.empty:
            b = up[up["process"] == p].sort_values("init_factor")
            if not b.empty:
                ax.plot(
                    b["init_factor"], b["bound_value"], ":", color="C3", lw=1.4, label="gnz2025-w2 (total)"
                )
                init = [_terms(t).get("initialisation", np.nan) for t in b["terms"]]
                ax.plot(b["init_factor"], init, "-", color="C2", lw=4, alpha=0.35, label="its init term")
        c = ct[ct["process"] == p].sort_values("init_factor")
        ax.plot(c["init_factor"], c["value"], "s:", ms=4, color="C1", label="init-only W2 (continuous time)")
        ax.plot(
            g["init_factor"], g["value"], "o--", ms=3, lw=1.0, color="C0", label="measured W2 (4096 steps)"
        )
        Ts = ", ".join(f"{t:.3g}" for t in g["horizon"])
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"{p}\nT = {Ts}", fontsize=7.5)
        ax.set_xlabel(r"GNZ init factor $\alpha_T^2/(\alpha_T^2 + m_0\sigma_T^2)$")
        ax.set_ylabel(r"$W_2$")
        ax.grid(True, which="both", alpha=0.25)
    axes[0].legend(fontsize=6.5)
    fig.suptitle(
        "forward-processes: W2 vs horizon T (through GNZ's init factor), prior N(0, sigma_T^2 I), d = 16",
        fontsize=10,
    )
    fig.tight_layout()
    return _save(fig, stem)


def _fig_mixture(ok, stem: Path) -> list[Path]:
    mx = ok[ok["metric"] == "w2_mixture"]
    if mx.empty:
        return []
    plt = _style()
    targets = list(dict.fromkeys(mx["target"]))
    fig, axes = plt.subplots(
        1, len(targets), figsize=(5.0 * len(targets) + 1.5, 4.0), squeeze=False, sharey=True
    )
    series = list(dict.fromkeys(zip(mx["process"], mx["sampler"])))
    colors, markers = _palette(series)
    for ax, tg in zip(axes[0], targets):
        for key in series:
            g = mx[(mx["target"] == tg) & (mx["process"] == key[0]) & (mx["sampler"] == key[1])].sort_values(
                "steps"
            )
            if g.empty:
                continue
            ax.errorbar(
                g["steps"],
                g["value"],
                yerr=g["stderr"].fillna(0),
                marker=markers[key],
                ms=3.5,
                capsize=2,
                color=colors[key],
                label=f"{key[0]} / {key[1]}",
            )
            ax.plot(g["steps"], g["floor"], ":", color=colors[key], lw=1.0)
        lc = "log-concave" if is_log_concave_mixture(tg) else "NOT log-concave (GNZ's assumption violated)"
        ax.set_title(f"{tg}\n{lc}", fontsize=8)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("steps N")
        ax.grid(True, which="both", alpha=0.25)
    axes[0][0].set_ylabel(r"$W_2$ (exact OT, samples) ; dotted: noise floor")
    axes[0][-1].legend(fontsize=7)
    fig.suptitle("forward-processes: Gaussian mixtures, sample-based W2 and its floor", fontsize=10)
    fig.tight_layout()
    return _save(fig, stem)


# --- samplers --------------------------------------------------------------------------------------
ROUNDOFF = {"w2": 1e-11, "tv": 1e-11, "kl": 1e-20}  # values below are at float64 round-off: not fitted
METRIC_POWER = {"w2": 1.0, "tv": 1.0, "kl": 2.0}  # metric ~ h^(power * order)


def sampler_orders(ok, tail: int = 4) -> Any:
    r"""Per (process, sampler, grid): the declared weak order beside the measured order from $W_2$, TV and KL
    (slope over the ``tail`` largest $N$ above round-off, divided by the metric's power: KL $\propto h^{2p}$),
    and the local order at the largest $N$."""
    import pandas as pd

    from sgmbench.samplers import sampler_info

    out = []
    for (proc, smp, grid), g in ok.groupby(["process", "sampler", "grid"], sort=False):
        info = sampler_info(smp)
        row = {
            "process": proc,
            "sampler": smp,
            "grid": grid,
            "declared order": info.weak_order,
            "consistent": info.consistent,
        }
        for m in ("w2", "tv", "kl"):
            h = g[(g["metric"] == m) & (g["value"] > ROUNDOFF[m])].sort_values("steps")
            h = h.groupby("steps")["value"].mean().reset_index()
            t = h.tail(tail)
            row[f"order from {m}"] = -_slope(t["steps"], t["value"]) / METRIC_POWER[m]
            row[f"local order from {m} at largest N"] = -_tail_slope(h["steps"], h["value"]) / METRIC_POWER[m]
            if m == "w2":
                row["fit window (N)"] = f"{int(t['steps'].min())}-{int(t['steps'].max())}" if len(t) else "—"
        row["verdict (w2)"] = order_verdict(
            row["order from w2"], row["local order from w2 at largest N"], info.weak_order, info.consistent
        )
        out.append(row)
    return pd.DataFrame(out)


def order_verdict(fit: float, local: float, declared: float, consistent: bool, tol: float = 0.1) -> str:
    """``matches`` (fit within ``tol`` of the declared order), ``matches at the largest N only`` (the local
    order does, the window fit does not: pre-asymptotic), ``differs``; for an inconsistent sampler
    (declared order 0) ``stalls (biased limit)`` when the local order at the largest N is below 0.3, else
    ``still decreasing at the largest N``."""
    if not np.isfinite(fit):
        return "no fit"
    if not consistent:
        return (
            "stalls (biased limit)"
            if np.isfinite(local) and abs(local) < 0.3
            else "still decreasing at the largest N"
        )
    if abs(fit - declared) <= tol:
        return "matches"
    if np.isfinite(local) and abs(local - declared) <= tol:
        return "matches at the largest N only"
    return "differs"


def sampler_tightness(pairs, at_steps: int = 1024) -> Any:
    r"""Per (bound, process, grid) on the exponential integrator: predicted exponent of $N$ (the bound's
    declared one), fitted slopes of the bound and of the measured metric over the 4 largest $N$, the gap
    (bound slope − measured slope: the ratio bound/measured grows like $N^{\rm gap}$), the ratio at the
    smallest
    and largest $N$ and at ``at_steps``, and whether the bound held everywhere."""
    import pandas as pd

    from sgmbench.bounds import get_bound

    if pairs is None or pairs.empty:
        return pd.DataFrame()
    app = pairs[pairs["applicable"] & pairs["measured"].notna() & pairs["bound_value"].notna()]
    out = []
    for (b, proc, grid), g in app.groupby(["bound", "process", "grid"], sort=True):
        g = g.sort_values("steps")
        tail = g.tail(4)
        e = get_bound(b).exponent("N")
        bs, ms = _slope(tail["steps"], tail["bound_value"]), _slope(tail["steps"], tail["measured"])
        at = g[g["steps"] == at_steps]
        out.append(
            {
                "bound": b,
                "metric": g["metric"].iloc[0],
                "direction": g["direction"].iloc[0],
                "process": proc,
                "grid": grid,
                "early_stop": float(g["early_stop"].iloc[0]),
                "predicted N-exponent": e.value if e is not None and e.form == "power" else float("nan"),
                "bound slope": bs,
                "measured slope": ms,
                "gap (ratio ~ N^gap)": bs - ms,
                "ratio at smallest N": float(g["ratio"].iloc[0]),
                f"ratio at N={at_steps}": float(at["ratio"].iloc[0]) if not at.empty else float("nan"),
                "ratio at largest N": float(g["ratio"].iloc[-1]),
                "N range": f"{int(g['steps'].min())}-{int(g['steps'].max())}",
                "holds everywhere": bool(g["holds"].dropna().astype(bool).all())
                if g["holds"].notna().any()
                else None,
            }
        )
    return pd.DataFrame(out)


ORDERS_PREAMBLE = """# Samplers: measured orders beside declared orders

Gaussian target N(1, diag(0.5..5)) in d = 8, exact score, started from p_T (prior=exact: no
initialisation error, no ODE prior floor), uniform grid (or Benton et al.'s) on [delta, T], T = 1, exact
laws. Measured order p: minus the slope of log(metric) on log N over the 4 largest N above float64
round-off, divided by 2 for KL (KL ~ h^(2p)); "local order at largest N": the same over the last two
N. Declared: the weak order of sgmbench.samplers.sampler_info. predictor-corrector is declared
inconsistent (order 0: a Langevin corrector with a fixed snr has a biased limit, relative variance bias
~ snr^2 sigma_delta^2 / lambda_delta by the sampler's docstring). That bias vanishes when delta = 0
(sigma_0 = 0, and the corrector step 2 (snr sigma_t)^2 -> 0): on the uniform grid with delta = 0 its W2
keeps decreasing. With delta = 1e-3 (Benton's grid) the formula puts the floor near W2 ~ 1e-4 here (our
estimate), below the discretisation error up to N = 16384: the stall is not reached in this range.
"""

TIGHTNESS_PREAMBLE = """# Bounds vs measurement on the exponential integrator: loose in h? by how much?

Slopes are of log(value) on log N over the 4 largest N. Measured W2 and TV decay like N^-1 and KL
like N^-2 (first-order sampler); bounds predicting h^(1/2) (W2, TV) or h (KL) are loose in the step size
by N^(1/2) resp. N^1: the gap column is (bound slope - measured slope), and the ratio bound/measured
grows accordingly. Lower bounds (gnz2025-gaussian-lower, sqrt(d) h, unknown constant): only the rate
is meaningful; a gap of 0 means the lower bound's rate is attained.
"""


def samplers_report_extras(store, study: str = "samplers", results_dir: str | Path = "results") -> list[Path]:
    """Write the orders and tightness tables and the local-slope and ratio figures of ``samplers``."""
    ok, pairs = _frames(store, study)
    out = Path(results_dir) / study
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    orders = sampler_orders(ok)
    if not orders.empty:
        files += _write(orders, out / "orders", ORDERS_PREAMBLE)
    tight = sampler_tightness(pairs)
    if not tight.empty:
        files += _write(tight, out / "tightness", TIGHTNESS_PREAMBLE)
    files += _fig_local_slopes(ok, out / "local_orders_w2")
    files += _fig_ratios(pairs, out / "bound_over_measured_vs_steps")
    return files


def _fig_local_slopes(ok, stem: Path) -> list[Path]:
    from sgmbench.samplers import sampler_info

    w = ok[(ok["metric"] == "w2") & (ok["grid"] == "uniform")]
    if w.empty:
        return []
    plt = _style()
    procs = list(dict.fromkeys(w["process"]))
    samplers = list(dict.fromkeys(w["sampler"]))
    colors, markers = _palette(samplers)
    fig, axes = plt.subplots(1, len(procs), figsize=(4.6 * len(procs) + 2.0, 3.8), squeeze=False, sharey=True)
    for ax, p in zip(axes[0], procs):
        for smp in samplers:
            g = w[(w["process"] == p) & (w["sampler"] == smp) & (w["value"] > ROUNDOFF["w2"])]
            g = g.groupby("steps")["value"].mean().reset_index().sort_values("steps")
            if len(g) < 2:
                continue
            lx, ly = np.log(g["steps"].to_numpy(float)), np.log(g["value"].to_numpy(float))
            mid = np.exp(0.5 * (lx[1:] + lx[:-1]))
            ax.plot(mid, -np.diff(ly) / np.diff(lx), marker=markers[smp], ms=3, color=colors[smp], label=smp)
            ax.axhline(sampler_info(smp).weak_order, color=colors[smp], lw=0.6, ls=":")
        ax.set_xscale("log", base=2)
        ax.set_title(p, fontsize=9)
        ax.set_xlabel("steps N (midpoint)")
        ax.grid(True, which="both", alpha=0.25)
        ax.set_ylim(-0.5, 3.0)
    axes[0][0].set_ylabel(r"local order $-\Delta\log W_2/\Delta\log N$ (dotted: declared)")
    axes[0][-1].legend(fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left")
    fig.suptitle("samplers: local orders from exact W2 (prior = exact, uniform grid)", fontsize=10)
    fig.tight_layout()
    return _save(fig, stem)


def _fig_ratios(pairs, stem: Path) -> list[Path]:
    if pairs is None or pairs.empty:
        return []
    app = pairs[pairs["applicable"] & pairs["ratio"].notna() & (pairs["direction"] == "upper")]
    if app.empty:
        return []
    plt = _style()
    procs = list(dict.fromkeys(app["process"]))
    keys = list(dict.fromkeys(zip(app["bound"], app["grid"])))
    colors, markers = _palette(keys)
    fig, axes = plt.subplots(1, len(procs), figsize=(4.6 * len(procs) + 2.6, 3.8), squeeze=False, sharey=True)
    for ax, p in zip(axes[0], procs):
        for key in keys:
            g = app[(app["process"] == p) & (app["bound"] == key[0]) & (app["grid"] == key[1])].sort_values(
                "steps"
            )
            if not g.empty:
                ax.plot(
                    g["steps"],
                    g["ratio"],
                    marker=markers[key],
                    ms=3,
                    color=colors[key],
                    label=f"{key[0]} ({g['metric'].iloc[0]}, {key[1]} grid)",
                )
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_title(p, fontsize=9)
        ax.set_xlabel("steps N")
        ax.grid(True, which="both", alpha=0.25)
    axes[0][0].set_ylabel("bound / measured")
    handles = {}
    for ax in axes[0]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    axes[0][-1].legend(
        handles.values(), handles.keys(), fontsize=6.5, bbox_to_anchor=(1.02, 1), loc="upper left"
    )
    fig.suptitle("samplers: tightness ratio bound/measured vs steps (exponential integrator)", fontsize=10)
    fig.tight_layout()
    return _save(fig, stem)


# --- command line ------------------------------------------------------------------------------------
def extras_main(study: str, fn: Callable[..., list[Path]], argv: Sequence[str] | None = None) -> None:
    """``python -m benchmarks.<study> --store PATH --out DIR``: write the study's extra tables and figures."""
    import argparse

    ap = argparse.ArgumentParser(description=f"extra report of the {study} study (after `sgmbench report`)")
    ap.add_argument("--store", default="results/sgmbench.sqlite")
    ap.add_argument("--out", default="results")
    a = ap.parse_args(argv)
    for p in fn(a.store, a.out):
        print(p)
