r"""Helpers of the ``forward-processes`` and ``samplers`` studies (an underscore module: not a study).

What is here:

- the **horizon rule** of Gao–Nguyen–Zhu (``papers/bounds-wasserstein.md`` §1.5, "How to read the
  table"): :func:`rule_horizon` picks $T$ so that the initialisation term of the $W_2$ bound,
  $\frac{\alpha_T^2}{\alpha_T^2 + m_0\sigma_T^2}\|x_0\|_{L^2}$, equals ``share``$\cdot\varepsilon$ (default
  $\varepsilon/2$): ${\rm SNR}_T = \alpha_T^2/\sigma_T^2 = m_0 r/(1 - r)$ with $r = $ ``share``$\cdot\varepsilon/\|x_0\|_{L^2}$,
  then $T$ = the time where the process reaches that SNR (bisection on $\log\rho_t$, $\rho = 1/{\rm SNR}$).
  For VP this is $\int_0^T\beta \approx \log(\|x_0\|_{L^2}/(m_0\cdot{\rm share}\cdot\varepsilon)) \sim \log(\sqrt d/\varepsilon)$,
  for VE $\sigma_T^2 \approx \|x_0\|_{L^2}/(m_0\,{\rm share}\,\varepsilon) \sim \sqrt d/\varepsilon$: the paper's rule;
- the **bisection** for the smallest number of uniform steps $K$ with exact $W_2 \le \varepsilon`
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
$W_2^{(1)} \le \varepsilon/\sqrt d$; hence $K(d, \varepsilon) = F(\sqrt d/\varepsilon)$, and the exponent of $K$ in $d$
is exactly half its exponent in $1/\varepsilon$ -- for the measurement and for every row of GNZ's table
alike (all their entries are functions of $\sqrt d/\varepsilon$ up to logs).
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
    """``(dim, mean, var)`` of an isotropic ``gaussian:`` target spec (scalar mean and var, no cond/rotate)."""
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

    - isotropic Gaussian $N(\mu\mathbf 1, \lambda I_d)$: $\|x_0\|_{L^2}^2 = d(\mu^2 + \lambda)$, $m_0 = 1/\lambda$;
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


@functools.lru_cache(maxsize=None)
def _process(spec: str):
    from sgmbench.processes import get_process

    return get_process(spec)


def time_at_snr(process_spec: str, snr: float) -> float:
    r"""The time $t$ with ${\rm SNR}(t) = \alpha_t^2/\sigma_t^2 = $ ``snr``: bisection on $\log\rho_t$ (increasing).

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
    r"""GNZ's initialisation factor $\alpha_T^2/(\alpha_T^2 + m_0\sigma_T^2) = {\rm SNR}_T/({\rm SNR}_T + m_0)$."""
    p = _process(process_spec)
    snr = float(p.snr(torch.tensor(float(horizon), dtype=DTYPE)))
    return snr / (snr + m0)


def rule_horizon(process_spec: str, target_spec: str, tol: float, share: float = 0.5) -> float:
    r"""$T$ with GNZ's initialisation term $\frac{\alpha_T^2}{\alpha_T^2 + m_0\sigma_T^2}\|x_0\|_{L^2} = $ ``share``$\cdot$``tol``
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
@functools.lru_cache(maxsize=None)
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
    r"""Exact $W_2$(generated, $p_0$) for $N(\mu\mathbf 1, \lambda I_d)$, exact score: $\sqrt d$ times the 1-D value.

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
    r"""The smallest $K \in [k_{\min}, k_{\max}]$ with ``error(K)`` $\le$ ``tol``, assuming ``error`` decreases in $K$.

    Doubling from ``k_min`` until ``error`` $\le$ ``tol`` brackets the answer in $(K/2, K]$; bisection then
    narrows $(lo, hi]$ until $hi - lo \le \max(1, \lfloor$``rel_tol``$\cdot hi\rfloor)$ (``rel_tol = 0``: the exact
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
            return {"K": None, "K_low": k_max + 1, "error": f(k_max), "evaluations": len(cache), "censored": True}
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
    r"""The complexity of one (process, sampler, $d$, $\varepsilon$): horizon by :func:`rule_horizon`, then the
    smallest uniform step count $K$ with exact $W_2(\text{generated}, p_0) \le \varepsilon$ (prior $N(0, \sigma_T^2 I)$).

    ``check_monotone``: also evaluates $W_2$ at $2K$; ``monotone`` is false if it exceeds $\varepsilon$ there (the
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
    r"""GNZ's exponents of $K$ (iterations to $W_2 \le \varepsilon$) in $d$ and in $1/\varepsilon$ (logs dropped), the
    dropped log factor and the provenance; our derivation (same rule) for ``vp-cosine``, ``subvp``, ``edm``."""
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
    """Asymptotic order of GNZ's K in $u = \\sqrt d/\\varepsilon$: (power of u, log strength); smaller = fewer steps."""
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
        note = "censored: K > %d" % K_MAX if res["censored"] else ""
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
