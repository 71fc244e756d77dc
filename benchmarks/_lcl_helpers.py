r"""Helpers of the ``li-chen-li`` study: the empirical optimal score's error, memorisation metrics, total
correlation, and a cacheable KDE law.

Sources: Li, Chen, Li 2024 (arXiv 2401.04856) and its code ``SixuLi/DDPM_and_KDE`` as summarised in
``shared/papers/empirical-score.md`` (§2.2 the asymptotic constant $J(t)$, §2.3 the protocol of the
score-error figure, §3 the KDE law, §4.5 total correlation, §4.6 the nearest-neighbour ratio of Gu et al.
2023, ``sail-sg/DiffMemorize`` ``mem_ratio.py``).
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np
import torch

DTYPE = torch.float64
GU_THRESHOLD = 1.0 / 3.0


# ------------------------------------------------------------------------------------------------
# Score error of the empirical optimal score
# ------------------------------------------------------------------------------------------------
def empirical_score_error(
    train_points: torch.Tensor, target, process, t: float, m: int, generator: torch.Generator
) -> tuple[float, float]:
    r"""Monte Carlo $E_{x\sim p_t}\|s^n_t(x) - \nabla\log p_t(x)\|^2$ with ``m`` fresh points of the true
    noised law $p_t$ (the authors' protocol, ``empirical-score.md`` §2.3); returns (mean, stderr)."""
    from sgmbench.targets.empirical import EmpiricalTarget

    emp = EmpiricalTarget(train_points)
    law = target.noised(process, float(t))
    x = law.sample(int(m), generator=generator)
    err = ((emp.noised(process, float(t)).score(x) - law.score(x)) ** 2).sum(-1)
    return float(err.mean()), float(err.std() / math.sqrt(m))


def time_averaged_error(
    train_points, target, process, times, m: int, generator
) -> tuple[float, float, list[float]]:
    """The time average over ``times`` of :func:`empirical_score_error` (the code's "score approximation
    error"), its standard error and the per-time values."""
    vals, ses = [], []
    for t in times:
        v, s = empirical_score_error(train_points, target, process, float(t), m, generator)
        vals.append(v)
        ses.append(s)
    k = len(vals)
    return float(np.mean(vals)), float(math.sqrt(np.sum(np.square(ses))) / k), vals


# ------------------------------------------------------------------------------------------------
# Memorisation: nearest-neighbour ratio (Gu et al. 2023) and distances
# ------------------------------------------------------------------------------------------------
def nn_distances(
    samples: torch.Tensor, train: torch.Tensor, chunk: int = 2048
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""For every sample: the distances $d_1 \le d_2$ to its nearest and second-nearest training points and
    the index of the nearest (Euclidean, exact; chunked over samples)."""
    x = torch.as_tensor(samples, dtype=DTYPE)
    y = torch.as_tensor(train, dtype=DTYPE)
    d1, d2, idx = [], [], []
    for xs in torch.split(x, chunk):
        d = torch.cdist(xs, y)
        vals, ind = torch.topk(d, k=min(2, y.shape[0]), dim=1, largest=False)
        d1.append(vals[:, 0])
        d2.append(vals[:, 1] if vals.shape[1] > 1 else torch.full_like(vals[:, 0], math.inf))
        idx.append(ind[:, 0])
    return torch.cat(d1).numpy(), torch.cat(d2).numpy(), torch.cat(idx).numpy()


def memorisation(samples, train, threshold: float = GU_THRESHOLD) -> dict[str, float]:
    r"""Gu et al. 2023's test: a sample is *memorised* iff $d_1/d_2 <$ ``threshold`` (1/3); returns the
    fraction memorised (with its binomial standard error), the mean and median $d_1$ and the median ratio."""
    d1, d2, _ = nn_distances(samples, train)
    ratio = d1 / np.maximum(d2, 1e-300)
    mem = ratio < threshold
    n = mem.size
    frac = float(mem.mean())
    return {
        "memorised_fraction": frac,
        "memorised_fraction_se": float(math.sqrt(max(frac * (1 - frac), 1e-12) / n)),
        "nn_ratio_median": float(np.median(ratio)),
        "nn_distance_mean": float(d1.mean()),
        "nn_distance_median": float(np.median(d1)),
    }


# ------------------------------------------------------------------------------------------------
# Total correlation I(X; Y_1..n) of one KDE sample and the training set (empirical-score.md §4.5)
# ------------------------------------------------------------------------------------------------
def total_correlation(
    n: int, d: int, c: float, gamma: float, *, train_sets: int = 10, per_centre: int = 50, seed: int = 0
) -> dict[str, float]:
    r"""Two informations carried by one draw $X = Y_J + \gamma Z$ of the Gaussian KDE of a training set
    $Y_{1:n}$, $Y_i \sim N(0, c^2I_d)$ i.i.d., $J$ uniform:

    - ``tc``: $I(X; Y_{1:n}) = E_Y{\rm KL}\big(\tfrac1n\sum_iN(Y_i, \gamma^2I)\,\|\,
      N(0, (c^2+\gamma^2)I)\big)$, the authors' "total correlation" (``src/evaluate_total_correlation.py``:
      the same Monte Carlo, ``train_sets`` training sets, ``per_centre`` points around each $Y_i$). It tends
      to 0 as $\gamma\to\infty$ but is *not* bounded by $\log n$: as $\gamma \to 0$ it grows like
      $\frac d2\log\frac{c^2+\gamma^2}{\gamma^2} - \log n$ (derived; a continuous $X$ is then determined by
      the training set);
    - ``index``: $I(X; J \mid Y_{1:n}) = E[\log(n\,w_J(X))]$, $w$ the posterior of the index (a softmax),
      which lies in $[0, \log n]$: $\log n$ when a sample reveals which training point it copies.

    Returns means and standard errors over the training sets."""
    gen = torch.Generator().manual_seed(int(seed))
    tcs, idx = [], []
    g2, v_ref = gamma**2, c**2 + gamma**2
    for _ in range(int(train_sets)):
        Y = c * torch.randn(n, d, generator=gen, dtype=DTYPE)
        J = torch.arange(n).repeat_interleave(per_centre)
        X = Y[J] + gamma * torch.randn(n * per_centre, d, generator=gen, dtype=DTYPE)
        logits = -0.5 * torch.cdist(X, Y) ** 2 / g2
        lse = torch.logsumexp(logits, 1)
        log_kde = lse - math.log(n) - 0.5 * d * math.log(2 * math.pi * g2)
        log_ref = -0.5 * (X**2).sum(-1) / v_ref - 0.5 * d * math.log(2 * math.pi * v_ref)
        tcs.append(float((log_kde - log_ref).mean()))
        idx.append(float((math.log(n) + logits[torch.arange(J.numel()), J] - lse).mean()))
    out = {}
    for name, v in (("tc", tcs), ("index", idx)):
        v = np.asarray(v)
        out[name] = float(v.mean())
        out[name + "_se"] = float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else float("nan")
    return out


def index_information(centres: torch.Tensor, var: float, m: int, generator) -> tuple[float, float]:
    r"""$I(X; J \mid Y) = E[\log(n\,w_J(X))]$ for one KDE $\frac1n\sum_jN(\mu_j, {\rm var}\,I)$ with centres
    ``centres`` (Monte Carlo with ``m`` draws): the information a sample carries about *which* training point
    it comes from, in $[0, \log n]$. Returns (mean, stderr)."""
    mu = torch.as_tensor(centres, dtype=DTYPE)
    n = mu.shape[0]
    J = torch.randint(n, (int(m),), generator=generator)
    X = mu[J] + math.sqrt(var) * torch.randn(int(m), mu.shape[1], generator=generator, dtype=DTYPE)
    logits = -0.5 * torch.cdist(X, mu) ** 2 / var
    v = math.log(n) + logits[torch.arange(int(m)), J] - torch.logsumexp(logits, 1)
    return float(v.mean()), float(v.std() / math.sqrt(m))


# ------------------------------------------------------------------------------------------------
# A KDE law that the metrics' floor cache recognises
# ------------------------------------------------------------------------------------------------
class CachedKDE:
    """:class:`sgmbench.exact.KDELaw` with a ``cache_key`` (a hash of its centres and bandwidth), so that the
    noise floor of an estimator against it is computed once per law."""

    def __init__(self, law):
        self.law = law
        h = hashlib.sha1(np.ascontiguousarray(law.means.numpy()).tobytes())
        h.update(repr(float(law.var)).encode())
        self.cache_key = f"kde:{law.means.shape[0]}x{law.dim}:{h.hexdigest()}"

    @property
    def dim(self) -> int:
        return self.law.dim

    def sample(self, n, generator=None, device="cpu", dtype=DTYPE):
        return self.law.sample(n, generator=generator, device=device).to(dtype)

    def log_prob(self, x):
        return self.law.log_prob(torch.as_tensor(x, dtype=DTYPE))


def record(
    value: float,
    *,
    stderr: float | None = None,
    floor: float | None = None,
    exact: bool = False,
    **fields: Any,
) -> dict[str, Any]:
    """A metric record of the outcome contract (value, exact, stderr, floor) plus ``fields``."""
    v = float(value) if value is not None else float("nan")
    s = None if stderr is None or not math.isfinite(float(stderr)) else float(stderr)
    f = None if floor is None or not math.isfinite(float(floor)) else float(floor)
    return {"value": v, "exact": bool(exact), "stderr": s, "floor": f, **fields}


def metric_record(rec) -> dict[str, Any]:
    """A :class:`~sgmbench.metrics.MetricRecord` as an outcome record (non-finite numbers as ``None``)."""
    d = rec.as_dict()
    d.pop("metric", None)
    for k, v in list(d.items()):
        if k != "value" and isinstance(v, float) and not math.isfinite(v):
            d[k] = None
    d["exact"] = bool(d.get("exact", False))
    return d
