r"""The law of a finite training set $\hat p_n = \frac1n\sum_i\delta_{x_i}$ and its noised laws.

$p^n_t = \frac1n\sum_i N(\alpha_t x_i, \sigma_t^2 I)$, whose score is Li–Chen–Li's *empirical optimal score*
$$\hat s(t,x) = \frac{\alpha_t\sum_i w_i(x)\,x_i - x}{\sigma_t^2},\qquad
  w = {\rm softmax}_i\Big(-\frac{\|x - \alpha_t x_i\|^2}{2\sigma_t^2}\Big)$$
(``papers/empirical-score.md`` §1.2; ``papers/metrics-and-exact.md`` §3.5 item 3). It minimises the
empirical denoising score-matching loss at every $t$.

Evaluation streams over chunks of training points with an online log-sum-exp (the "online softmax"
of Milakov & Gimelshein 2018), distances by one matmul ($\|x\|^2 - 2x\cdot y + \|y\|^2$): memory is
$O({\rm tile} + m d)$ for $m$ queries, whatever $n$ is (a tile is at most ``CHUNK_ELEMENTS`` logits;
measured in ``benchmarks/perf/test_perf_empirical.py``).

Registry entries draw a seeded training set from another target: ``empirical-gaussian`` and
``empirical-mixture``; the scikit-learn digits live in :mod:`sgmbench.targets.digits`.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from sgmbench.errors import SgmbenchError
from sgmbench.targets.base import NoisedLaw, Target, TargetConstants, targets
from sgmbench.targets.gaussian import DTYPE, LOG_2PI, DeviceCache, check_count, gaussian, randint

#: elements of the ``[queries, chunk]`` logit tile on an accelerator (2**25 float64 = 256 MiB): few, large
#: kernel launches (on an H100 at m = 1e4, n = 5e4, d = 3072: 0.44x of the matmul's FLOP/s with
#: 2**22-element tiles, 0.66-0.69x with 2-8x larger ones; results/perf/gpu.md)
CHUNK_ELEMENTS = 2**25
#: on the CPU the queries are blocked too, so the tile stays in the last-level cache (2**20 float64 = 8 MiB)
CPU_TILE_ELEMENTS = 2**20
#: rows per query block on the CPU
CPU_QUERY_BLOCK = 1024


def _chunk_size(m: int, n: int, chunk: int | None) -> int:
    """Training points per chunk for ``m`` queries at a time: ``m * chunk <= CHUNK_ELEMENTS`` (or 256)."""
    if chunk is not None:
        return max(1, min(int(chunk), n))
    return max(256, min(n, CHUNK_ELEMENTS // max(m, 1)))


def _tile(m: int, n: int, chunk: int | None, device: torch.device) -> tuple[int, int]:
    """(query rows, training points) of one logit tile: the whole query set on an accelerator; on the CPU
    blocks of ``CPU_QUERY_BLOCK`` queries and ``CPU_TILE_ELEMENTS`` elements (measured 1.3-1.9x faster than
    ``[m, chunk]`` strips at n = m = 1e4, d = 64-256, one thread: the in-place passes over the tile hit the
    cache)."""
    if device.type != "cpu":
        return max(m, 1), _chunk_size(m, n, chunk)
    if chunk is not None:
        c = max(1, min(int(chunk), n))
        return max(1, min(m, CPU_TILE_ELEMENTS // c)), c
    b = max(1, min(m, CPU_QUERY_BLOCK))
    return b, max(1, min(n, CPU_TILE_ELEMENTS // b))


def _exp_floor(dtype: torch.dtype) -> float:
    r"""Shifted logits are clamped from below at $\tfrac12\log({\rm tiny})$ before ``exp`` (-354 in
    float64, -43 in float32).

    ``exp`` of an argument whose result is subnormal or underflows takes a slow path on x86 CPUs
    (measured here, float64, one thread: 2.1 ns per element normally, 57 ns for subnormal results,
    14 ns for results that flush to 0), and at small $\sigma_t$ nearly every weight underflows. The
    clamp changes each such weight from $e^{\ell - M} < e^{-354}$ to $e^{-354}$: the sums move by less
    than $n e^{-354}$ relative to the largest weight (1), far below the float64 rounding of any sum, and
    products with the points stay out of the subnormal range.
    """
    return 0.5 * math.log(torch.finfo(dtype).tiny)


def empirical_posterior(
    x: torch.Tensor,
    points: torch.Tensor,
    alpha: float,
    sigma2: float,
    *,
    points_sq: torch.Tensor | None = None,
    chunk: int | None = None,
    want_mean: bool = True,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    r"""Streaming $\big(\log\sum_i e^{\ell_i(x)},\ \sum_i w_i(x)\,x_i\big)$ with $\ell_i = (2\alpha x\cdot
    x_i - \alpha^2\|x_i\|^2)/(2\sigma^2)$.

    $\ell_i$ is $-\|x - \alpha x_i\|^2/(2\sigma^2)$ without its $x$-only term $-\|x\|^2/(2\sigma^2)$, which
    cancels in $w = {\rm softmax}(\ell)$ (so no cancellation error from $\|x\|^2$ enters the weights).
    Online log-sum-exp over chunks of ``points``: running max $M$, running sum $S$ and running
    weighted sum $A$ are rescaled by $e^{M_{\rm old} - M_{\rm new}}$ at each chunk.
    Returns the log-sum-exp ``[m]`` and the posterior mean (empirical denoiser $\hat D_t(x)$) ``[m, d]``.

    Two GEMMs per tile and no other pass that allocates: the logits come from one product of the augmented
    ``[a x, -b]`` and ``[x_i, |x_i|^2]`` (no bias copy), are shifted and exponentiated in place in one
    reused tile, and the weights' row sums ride in the second product as a column of ones beside the
    points. Extra memory: one tile, ``[m, d + 1]`` twice, ``[chunk, d + 1]`` twice (``_tile``).
    When ``x`` or ``points`` needs a gradient, an out-of-place version of the same recursion runs instead.
    """
    m, n = x.shape[0], points.shape[0]
    d = x.shape[1]
    dt, dev = x.dtype, x.device
    if points_sq is None:
        points_sq = torch.linalg.vector_norm(points, dim=-1).square()
    if torch.is_grad_enabled() and (x.requires_grad or points.requires_grad):
        return _posterior_differentiable(x, points, alpha, sigma2, points_sq, chunk, want_mean)
    rows, c = _tile(m, n, chunk, dev)
    a_lin, a_sq = alpha / sigma2, 0.5 * alpha**2 / sigma2
    floor = _exp_floor(dt)
    xa = torch.empty(m, d + 1, dtype=dt, device=dev)  # [a x, -b]: logits = xa @ [x_i, |x_i|^2]^T
    torch.mul(x, a_lin, out=xa[:, :d])
    xa[:, d] = -a_sq
    run_max = torch.full((m,), -math.inf, dtype=dt, device=dev)
    # [sum_i w_i x_i, sum_i w_i] (the sum rides in the GEMM as a column of ones), or the sum alone
    acc = (
        torch.zeros(m, d + 1, dtype=dt, device=dev) if want_mean else torch.zeros(m, 1, dtype=dt, device=dev)
    )
    tile = torch.empty(rows * c, dtype=dt, device=dev)
    p_logit = torch.empty(min(c, n), d + 1, dtype=dt, device=dev)
    p_acc = torch.ones(min(c, n), d + 1, dtype=dt, device=dev) if want_mean else None
    for start in range(0, n, c):
        cc = min(c, n - start)
        pl = p_logit[:cc]
        pl[:, :d] = points[start : start + cc]
        pl[:, d] = points_sq[start : start + cc]
        if want_mean:
            pa = p_acc[:cc]
            pa[:, :d] = points[start : start + cc]
        for q in range(0, m, rows):
            b = min(rows, m - q)
            logits = tile[: b * cc].view(b, cc)
            torch.mm(xa[q : q + b], pl.T, out=logits)
            old_max = run_max[q : q + b]
            new_max = torch.maximum(old_max, logits.amax(dim=1))
            rescale = torch.exp(old_max - new_max)
            logits.sub_(new_max[:, None]).clamp_min_(floor).exp_()  # the weights, in place
            a = acc[q : q + b]
            a.mul_(rescale[:, None])
            if want_mean:
                a.addmm_(logits, pa)
            else:
                a[:, 0] += logits.sum(1)
            old_max.copy_(new_max)
    run_sum = acc[:, -1]
    lse = run_max + torch.log(run_sum)
    return lse, (acc[:, :d] / run_sum[:, None] if want_mean else None)


def _posterior_differentiable(x, points, alpha, sigma2, points_sq, chunk, want_mean):
    """The same online log-sum-exp without in-place operations (``[m, chunk]`` strips), for autograd."""
    m, n = x.shape[0], points.shape[0]
    c = _chunk_size(m, n, chunk)
    a_lin, a_sq = alpha / sigma2, 0.5 * alpha**2 / sigma2
    run_max = torch.full((m,), -math.inf, dtype=x.dtype, device=x.device)
    run_sum = torch.zeros(m, dtype=x.dtype, device=x.device)
    acc = torch.zeros_like(x) if want_mean else None
    for start in range(0, n, c):
        pc = points[start : start + c]
        logits = torch.addmm(-a_sq * points_sq[start : start + c], x, pc.T, alpha=a_lin)  # [m, c]
        new_max = torch.maximum(run_max, logits.max(dim=1).values)
        rescale = torch.exp(run_max - new_max)
        weights = torch.exp(logits - new_max[:, None])
        run_sum = run_sum * rescale + weights.sum(1)
        if want_mean:
            acc = torch.addmm(acc * rescale[:, None], weights, pc)
        run_max = new_max
    lse = run_max + torch.log(run_sum)
    return lse, (acc / run_sum[:, None] if want_mean else None)


def empirical_score_dense(x: torch.Tensor, points: torch.Tensor, alpha: float, sigma2: float) -> torch.Tensor:
    """Reference (dense, O(m n) memory) empirical optimal score: softmax of ``-cdist^2/(2 sigma^2)``; for
    tests."""
    d2 = torch.cdist(x, alpha * points) ** 2
    w = torch.softmax(-d2 / (2 * sigma2), dim=1)
    return (alpha * (w @ points) - x) / sigma2


class EmpiricalTarget(DeviceCache, Target):
    r"""$\hat p_n = \frac1n\sum_i\delta_{x_i}$ for a ``[n, d]`` tensor of points; no density at $t = 0$."""

    name = "empirical"
    has_density = False

    def __init__(
        self,
        points: Any,
        *,
        chunk: int | None = None,
        source: str = "user-supplied points",
        name: str | None = None,
        params: dict[str, Any] | None = None,
    ):
        pts = torch.as_tensor(points).detach()
        if not pts.is_floating_point():
            pts = pts.to(DTYPE)
        if pts.ndim != 2 or pts.shape[0] < 1:
            raise SgmbenchError(f"points must be a non-empty [n, d] array, got shape {tuple(pts.shape)}")
        if not all(bool(torch.isfinite(block).all()) for block in pts.split(4096)):  # no [n, d] temporary
            raise SgmbenchError("points contain non-finite values")
        if chunk is not None:
            check_count("chunk", chunk)
        dim = int(pts.shape[1])
        params = dict(params) if params is not None else {"num_train": int(pts.shape[0])}
        params.pop("dim", None)
        super().__init__(dim, **params)
        if name is not None:
            self.name = name
        self.source = source
        self.points = pts
        self.num_points = int(pts.shape[0])
        self.chunk = chunk
        self._points_sq = torch.linalg.vector_norm(pts, dim=-1).square()  # no [n, d] temporary
        self._constants: TargetConstants | None = None

    def sample(self, n: int, generator=None, device="cpu", dtype=DTYPE) -> torch.Tensor:
        """Draw training points uniformly with replacement."""
        idx = randint(self.num_points, check_count("n", n, 0), generator, device=self.points.device)
        return self.points[idx].to(device=device, dtype=dtype)

    def noised(self, process, t: float) -> EmpiricalNoisedLaw:
        return EmpiricalNoisedLaw(self, process, t)

    def constants(self) -> TargetConstants:
        """Exact moments of the empirical law; support radius $\\max_i\\|x_i\\|$; no density, so no $m_0$,
        $L_0$, KL, Fisher."""
        if self._constants is None:
            pts = self.points.to(DTYPE)
            mean = pts.mean(0)
            eig = None
            if self.dim <= 1024:
                centred = pts - mean
                cov = centred.T @ centred / self.num_points
                eig = tuple(float(v) for v in torch.linalg.eigvalsh(cov).clamp_min(0.0))
            none = "exact: does not exist (no density)"
            self._constants = TargetConstants(
                dim=self.dim,
                second_moment=float(self._points_sq.to(DTYPE).mean()),
                mean_norm=float(mean.norm()),
                cov_eigenvalues=eig,
                support_radius=float(self._points_sq.to(DTYPE).max().sqrt()),
                provenance={
                    "second_moment": "exact",
                    "mean_norm": "exact",
                    "cov_eigenvalues": "exact" if eig is not None else "not computed (dim > 1024)",
                    "support_radius": "exact",
                    "strong_log_concavity": none,
                    "score_lipschitz": none,
                    "kl_to_standard_normal": "exact: infinite (no density)",
                    "fisher_to_standard_normal": none,
                },
            )
        return self._constants


class EmpiricalNoisedLaw(NoisedLaw):
    r"""$p^n_t = \frac1n\sum_i N(\alpha_t x_i, \sigma_t^2 I)$; at $t = 0$ the empirical law itself (no
    density)."""

    def _check(self):
        if self.sigma2 <= 0.0:
            raise SgmbenchError(f"the empirical law has no density or score at t = {self.t} (sigma_t^2 = 0)")

    def _posterior(self, x: torch.Tensor, want_mean: bool):
        self._check()
        tg = self.target
        pts = tg._on("points", tg.points, x)
        sq = tg._on("points_sq", tg._points_sq, x)
        return empirical_posterior(
            x, pts, self.alpha, self.sigma2, points_sq=sq, chunk=tg.chunk, want_mean=want_mean
        )

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        r"""$\log p^n_t(x) = {\rm LSE}_i(\ell_i) - \|x\|^2/(2\sigma_t^2) - \log n - \tfrac
        d2\log(2\pi\sigma_t^2)$."""
        lse, _ = self._posterior(x, want_mean=False)
        return (
            lse
            - (x * x).sum(-1) / (2 * self.sigma2)
            - math.log(self.target.num_points)
            - 0.5 * self.target.dim * (LOG_2PI + math.log(self.sigma2))
        )

    def denoiser(self, x: torch.Tensor) -> torch.Tensor:
        """The empirical denoiser $\\hat D_t(x) = \\sum_i w_i(x)\\,x_i$ (posterior mean of $X_0$)."""
        return self._posterior(x, want_mean=True)[1]

    def score(self, x: torch.Tensor) -> torch.Tensor:
        r"""$(\alpha_t\hat D_t(x) - x)/\sigma_t^2$ (papers/empirical-score.md §1.2)."""
        return (self.alpha * self.denoiser(x) - x) / self.sigma2


# ------------------------------------------------------------------------------------------------
# Registry entries: seeded training sets drawn from another target
# ------------------------------------------------------------------------------------------------
def empirical_from(target: Target, num_train: int, seed: int, name: str, params: dict) -> EmpiricalTarget:
    """``num_train`` points drawn from ``target`` with ``torch.Generator().manual_seed(seed)``, as an
    empirical target."""
    num_train = check_count("num_train", num_train)
    gen = torch.Generator().manual_seed(check_count("seed", seed, 0))
    points = target.sample(num_train, generator=gen)
    return EmpiricalTarget(
        points, source=f"{num_train} points drawn from {target!r} (seed {seed})", name=name, params=params
    )


@targets.register(
    "empirical-gaussian",
    summary="empirical law of num_train seeded draws from gaussian:dim,mean,var",
    source="training set drawn from the gaussian target; score = Li-Chen-Li empirical optimal score",
)
def empirical_gaussian(
    dim: int | None = None, num_train: int = 100, seed: int = 0, mean: Any = 0.0, var: Any = 1.0
) -> EmpiricalTarget:
    """Empirical law of ``num_train`` points drawn from N(mean 1, var I) with ``seed``."""
    base = gaussian(dim=dim, mean=mean, var=var)
    params = {"dim": base.dim, "num_train": num_train, "seed": seed, "mean": mean, "var": var}
    return empirical_from(base, num_train, seed, "empirical-gaussian", params)


@targets.register(
    "empirical-mixture",
    summary="empirical law of num_train seeded draws from mixture:dim,components,separation,var,weights",
    source="training set drawn from the mixture target; score = Li-Chen-Li empirical optimal score",
)
def empirical_mixture(
    dim: int = 2,
    components: int = 2,
    separation: float = 4.0,
    var: Any = 0.5,
    weights: Any = None,
    num_train: int = 100,
    seed: int = 0,
) -> EmpiricalTarget:
    """Empirical law of ``num_train`` points drawn from the ``mixture`` registry entry with ``seed``."""
    from sgmbench.targets.mixture import mixture

    base = mixture(dim=dim, components=components, separation=separation, var=var, weights=weights)
    params = dict(base.params, num_train=num_train, seed=seed)
    return empirical_from(base, num_train, seed, "empirical-mixture", params)
