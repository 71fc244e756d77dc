r"""Gaussian-mixture targets $p_0 = \sum_k\pi_k N(\mu_k, C_k)$ and their exact noised laws.

$p_t = \sum_k\pi_k N(\alpha_t\mu_k, C_{k,t})$ with $C_{k,t} = \alpha_t^2C_k + \sigma_t^2I$; with
responsibilities
$w_k(x) = {\rm softmax}_k(\log\pi_k + \log N(x; \alpha_t\mu_k, C_{k,t}))$ (log-sum-exp, so stable far from
every mode) the score is $\nabla\log p_t(x) = \sum_k w_k(x)\,[-C_{k,t}^{-1}(x - \alpha_t\mu_k)]$
(``papers/metrics-and-exact.md`` §3.5; ``papers/bounds-tv-kl.md`` §2.6 (b)).

Each component is kept as an eigendecomposition $C_k = U_k{\rm diag}(\lambda_k)U_k^\top$ (``U_k = None`` when
axis-aligned), so isotropic components cost $O(d)$ per point. Components are looped over (memory
$O(nd)$, not $O(nKd)$).

Registry: ``mixture:dim=2,components=2,separation=4,var=0.5,weights=0.3;0.7`` places the means on a
regular polygon in the first two coordinates with adjacent means ``separation`` apart (two
components: $\pm\frac{{\rm sep}}2e_1$; ``dim=1``: equally spaced on the line, centred at 0).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from sgmbench.errors import SgmbenchError
from sgmbench.registry import check_positive
from sgmbench.targets.base import NoisedLaw, Target, TargetConstants, targets
from sgmbench.targets.gaussian import (
    DTYPE,
    LOG_2PI,
    DeviceCache,
    GaussianTarget,
    as_vector,
    check_count,
    gaussian_log_prob_and_score,
    randn,
)

#: Monte Carlo sample size for the estimated constants (KL, Fisher information, curvature scan)
CONSTANTS_MC = 20_000
#: largest dim for which the constants scan the d x d Hessian of log p over points
SCAN_MAX_DIM = 64


class MixtureTarget(DeviceCache, Target):
    r"""$\sum_k\pi_k N(\mu_k, C_k)$.

    Python constructor: ``MixtureTarget(weights, means, covs)`` with ``weights`` ``[K]`` (non-negative,
    summing to 1), ``means`` ``[K, d]`` and ``covs`` either one covariance shared by all components or a
    sequence of ``K``; each covariance is a scalar (isotropic), a ``[d]`` vector (diagonal) or a
    symmetric positive-definite ``[d, d]`` matrix.
    """

    name = "mixture"
    source = "closed form: sum_k pi_k N(alpha mu_k, alpha^2 C_k + sigma^2 I) (metrics-and-exact.md §3.5)"

    def __init__(self, weights: Any, means: Any, covs: Any = 1.0, *, params: dict[str, Any] | None = None):
        mu = torch.as_tensor(means, dtype=DTYPE).detach().cpu()
        if mu.ndim == 1:
            mu = mu[:, None]
        if mu.ndim != 2 or mu.shape[0] < 1:
            raise SgmbenchError(f"means must be a [K, d] array, got shape {tuple(mu.shape)}")
        K, dim = int(mu.shape[0]), int(mu.shape[1])
        w = as_vector("weights", weights, K)
        if bool((w < 0).any()):
            raise SgmbenchError(f"weights must be >= 0, got {w.tolist()}")
        if abs(float(w.sum()) - 1.0) > 1e-9:
            raise SgmbenchError(f"weights must sum to 1, got sum {float(w.sum())!r} for {w.tolist()}")
        cov_list = _split_covs(covs, K, dim)
        self.components = [GaussianTarget(mu[k], cov_list[k]) for k in range(K)]
        if params is None:
            params = {"dim": dim, "components": K, "covariance": "custom"}
        params = {k: v for k, v in params.items() if k != "dim"}
        super().__init__(dim, **params)
        self.weights = w
        self.means = mu
        self.num_components = K
        self._constants: TargetConstants | None = None

    # --- law ------------------------------------------------------------------------------------
    def sample(self, n: int, generator=None, device="cpu", dtype=DTYPE) -> torch.Tensor:
        """Component labels by inverting the weights' CDF at uniforms, then each component's sampler."""
        n = check_count("n", n, 0)
        gen_device = generator.device if generator is not None else torch.device(device)
        u = torch.rand(n, generator=generator, dtype=DTYPE, device=gen_device)
        cdf = torch.cumsum(self.weights, 0).to(gen_device)
        labels = torch.searchsorted(cdf, u, right=True).clamp_max(self.num_components - 1)
        z = randn((n, self.dim), generator, device, dtype)
        out = torch.empty(n, self.dim, dtype=dtype, device=device)
        labels = labels.to(device)
        for k, comp in enumerate(self.components):
            idx = (labels == k).nonzero().squeeze(-1)
            if idx.numel() == 0:
                continue
            lam, basis = comp.eigh()
            y = z[idx] * lam.to(device=device, dtype=dtype).sqrt()
            if basis is not None:
                y = y @ comp._on("U", basis, y).T
            out[idx] = y + comp.mean.to(device=device, dtype=dtype)
        return out

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return mixture_log_prob_and_score(x, self._components_on(x, 1.0, 0.0), want_score=False)[0]

    def noised(self, process, t: float) -> MixtureNoisedLaw:
        return MixtureNoisedLaw(self, process, t)

    def _components_on(self, like: torch.Tensor, alpha: float, sigma2: float):
        out = []
        for k, comp in enumerate(self.components):
            lam, basis = comp.eigh()
            out.append(
                (
                    math.log(float(self.weights[k])) if float(self.weights[k]) > 0 else -math.inf,
                    alpha * comp._on("mean", comp.mean, like),
                    alpha**2 * comp._on("lam", lam, like) + sigma2,
                    comp._on("U", basis, like),
                )
            )
        return out

    def gaussian_components(self, alpha: float = 1.0, sigma2: float = 0.0):
        """``[(weight, mean, eigenvalues, basis)]`` of the law of $\\alpha X_0 + \\sigma Z$ (CPU float64)."""
        out = []
        for k, comp in enumerate(self.components):
            lam, basis = comp.eigh()
            out.append((float(self.weights[k]), alpha * comp.mean, alpha**2 * lam + sigma2, basis))
        return out

    def hessian_log_prob(self, x: torch.Tensor, alpha: float = 1.0, sigma2: float = 0.0) -> torch.Tensor:
        r"""$\nabla^2\log p(x) = -\sum_kw_kP_k + \sum_kw_ks_ks_k^\top - \bar s\bar s^\top$, ``[n, d, d]``
        (§3.5)."""
        comps = self._components_on(x, alpha, sigma2)
        logw, scores = [], []
        for logpi, mean, lam, basis in comps:
            lp, s = gaussian_log_prob_and_score(x, mean, lam, basis)
            logw.append(lp + logpi)
            scores.append(s)
        w = torch.softmax(torch.stack(logw, -1), -1)  # [n, K]
        S = torch.stack(scores, 1)  # [n, K, d]
        sbar = (w[..., None] * S).sum(1)
        H = torch.einsum("nk,nki,nkj->nij", w, S, S) - sbar[:, :, None] * sbar[:, None, :]
        for k, (_, _, lam, basis) in enumerate(comps):
            P = torch.diag(1.0 / lam) if basis is None else (basis / lam) @ basis.T
            H = H - w[:, k, None, None] * P
        return H

    # --- constants ------------------------------------------------------------------------------
    def constants(self) -> TargetConstants:
        r"""Moments exact ($E\|X\|^2 = \sum_k\pi_k(\|\mu_k\|^2 + {\rm tr}C_k)$, covariance
        $\sum_k\pi_k(C_k + \mu_k\mu_k^\top) - \bar\mu\bar\mu^\top$); one component: all exact (the
        Gaussian's).

        Several components: $L_0$ is the bound $\max(1/\lambda_{\min}, D^2/(4\lambda_{\min}^2) -
        1/\lambda_{\max})$ of
        ``papers/bounds-tv-kl.md`` §2.6 (b) when all $C_k$ are equal ($D$ = largest distance between means),
        else the max of $\|\nabla^2\log p\|$ over samples and the segments between means (estimated, a lower
        bound on the supremum); $m_0$ is ``None`` if $-\nabla^2\log p$ has a negative eigenvalue at some
        scanned point (then $p$ is not log-concave), else the min eigenvalue found (estimated, an upper
        bound on the true $m_0$). KL and Fisher information to $N(0, I)$ by Monte Carlo
        (``papers/bounds-tv-kl.md`` §2.6 (b): ${\rm KL} = E_p[\log p(X) + \|X\|^2/2] + \tfrac d2\log 2\pi$).
        """
        if self._constants is not None:
            return self._constants
        if self.num_components == 1:
            self._constants = self.components[0].constants()
            return self._constants
        w = self.weights
        comps = self.gaussian_components()
        second = sum(float(wk) * (float(m @ m) + float(lam.sum())) for wk, m, lam, _ in comps)
        mbar = (w[:, None] * self.means).sum(0)
        prov: dict[str, str] = {
            "second_moment": "exact",
            "mean_norm": "exact",
            "support_radius": "exact: unbounded",
        }
        eig = None
        if self.dim <= 1024:
            cov = -torch.outer(mbar, mbar)
            for wk, m, lam, basis in comps:
                ck = torch.diag(lam) if basis is None else (basis * lam) @ basis.T
                cov = cov + wk * (ck + torch.outer(m, m))
            eig = tuple(float(v) for v in torch.linalg.eigvalsh(0.5 * (cov + cov.T)))
            prov["cov_eigenvalues"] = "exact"
        else:
            prov["cov_eigenvalues"] = "not computed (dim > 1024)"

        n = CONSTANTS_MC
        gen = torch.Generator().manual_seed(12345)
        x = self.sample(n, generator=gen)
        logp, score = mixture_log_prob_and_score(x, self._components_on(x, 1.0, 0.0))
        kl_terms = logp + 0.5 * (x * x).sum(-1) + 0.5 * self.dim * math.log(2 * math.pi)
        fisher_terms = ((score + x) ** 2).sum(-1)
        kl, kl_se = float(kl_terms.mean()), float(kl_terms.std()) / math.sqrt(n)
        fi, fi_se = float(fisher_terms.mean()), float(fisher_terms.std()) / math.sqrt(n)
        prov["kl_to_standard_normal"] = f"estimated: Monte Carlo, n={n}, stderr={kl_se:.3g}"
        prov["fisher_to_standard_normal"] = f"estimated: Monte Carlo, n={n}, stderr={fi_se:.3g}"

        m0_val: float | None = None
        L0_val: float | None = None
        shared = _all_equal_components(self)
        if shared:
            # shared C: Hessian = -P + P Cov_w(mu) P, P = C^{-1}, Cov_w(mu) <= D^2/4
            # (bounds-tv-kl.md §2.6 (b))
            lam0 = comps[0][2]
            lmin, lmax = float(lam0.min()), float(lam0.max())
            D = float(torch.cdist(self.means, self.means).max())
            L0_val = max(1.0 / lmin, D**2 / (4 * lmin**2) - 1.0 / lmax)
            prov["score_lipschitz"] = (
                "bound: max(1/lam_min, D^2/(4 lam_min^2) - 1/lam_max), bounds-tv-kl.md §2.6(b)"
            )
            lower = 1.0 / lmax - D**2 / (4 * lmin**2)
            if lower > 0:
                m0_val = lower
                prov["strong_log_concavity"] = (
                    "bound: 1/lam_max - D^2/(4 lam_min^2) (derived by us, same argument)"
                )
        if self.dim <= SCAN_MAX_DIM:
            lo, hi = self._curvature_scan(x[:4000])
            if lo < 0:
                m0_val = None
                prov["strong_log_concavity"] = (
                    f"exact: not log-concave (-Hessian of log p has eigenvalue {lo:.3g} at a scanned point)"
                )
            elif m0_val is None:
                m0_val = lo
                prov["strong_log_concavity"] = (
                    "estimated: min eigenvalue of -Hessian over samples and mode segments "
                    "(an upper bound on m_0)"
                )
            if L0_val is None:
                L0_val = hi
                prov["score_lipschitz"] = (
                    "estimated: max |Hessian of log p| over samples and mode segments (a lower bound on L_0)"
                )
        prov.setdefault("strong_log_concavity", f"unknown: curvature scan skipped (dim > {SCAN_MAX_DIM})")
        prov.setdefault("score_lipschitz", f"unknown: curvature scan skipped (dim > {SCAN_MAX_DIM})")
        self._constants = TargetConstants(
            dim=self.dim,
            second_moment=second,
            mean_norm=float(mbar.norm()),
            cov_eigenvalues=eig,
            strong_log_concavity=m0_val,
            score_lipschitz=L0_val,
            support_radius=None,
            kl_to_standard_normal=kl,
            fisher_to_standard_normal=fi,
            provenance=prov,
        )
        return self._constants

    def _curvature_scan(self, samples: torch.Tensor) -> tuple[float, float]:
        """(min eigenvalue of $-\\nabla^2\\log p$, max $\\|\\nabla^2\\log p\\|$) over samples and the
        segments between means."""
        K = self.num_components
        s = torch.linspace(0, 1, 101, dtype=DTYPE)
        segs = [
            self.means[i] + s[:, None] * (self.means[j] - self.means[i])
            for i in range(K)
            for j in range(i + 1, K)
        ]
        pts = torch.cat([samples, *segs]) if segs else samples
        lo, hi = math.inf, 0.0
        for start in range(0, pts.shape[0], 512):
            ev = torch.linalg.eigvalsh(-self.hessian_log_prob(pts[start : start + 512]))
            lo = min(lo, float(ev.min()))
            hi = max(hi, float(ev.abs().max()))
        return lo, hi


def _split_covs(covs: Any, K: int, dim: int) -> list[Any]:
    """Per-component covariances: a Python list/tuple is one entry per component (length K); a scalar,
    ``[d]`` vector or ``[d, d]`` matrix (tensor/array) is shared; a ``[K, d, d]`` tensor is one matrix
    each."""
    if isinstance(covs, (list, tuple)):
        if len(covs) != K:
            raise SgmbenchError(f"covs has {len(covs)} entries but there are {K} components")
        return list(covs)
    cov_t = torch.as_tensor(covs, dtype=DTYPE)
    if cov_t.ndim == 3:
        if cov_t.shape[0] != K:
            raise SgmbenchError(f"covs has {cov_t.shape[0]} matrices but there are {K} components")
        return list(cov_t)
    return [cov_t] * K


def _all_equal_components(mix: MixtureTarget) -> bool:
    lam0, basis0 = mix.components[0].eigh()
    for comp in mix.components[1:]:
        lam, basis = comp.eigh()
        if not torch.equal(lam, lam0):
            return False
        if (basis is None) != (basis0 is None) or (basis is not None and not torch.equal(basis, basis0)):
            return False
    return True


#: elements of one ``[rows, K*d]`` block of the all-components path (2**15 float64 = 256 KiB: stays in the
#: cache and under glibc's mmap threshold, so no fresh pages per call)
BLOCK_ELEMENTS = 2**15


def mixture_log_prob_and_score(x: torch.Tensor, comps, want_score: bool = True):
    r"""$\log\sum_k\pi_kN_k(x)$ and $\sum_kw_k(x)s_k(x)$.

    ``comps``: ``[(log pi_k, mean, eigenvalues, basis)]`` on ``x``'s device. When every component has
    a basis or none has (every registry mixture, any mixture of full or of diagonal covariances), all
    components go at once through their whitening maps (:func:`_all_components`); otherwise an online
    log-sum-exp over components: running max and weighted score sum are rescaled per component
    (Milakov & Gimelshein 2018), also used when ``x`` needs a gradient (the fast path works in place).
    Memory $O(nd)$ plus one block either way.
    """
    live = [c for c in comps if c[0] != -math.inf]
    differentiable = torch.is_grad_enabled() and x.requires_grad  # _all_components works in place
    if live and not differentiable and len({c[3] is None for c in live}) == 1:
        return _all_components(x, live, want_score)
    run_max = torch.full(x.shape[:1], -math.inf, dtype=x.dtype, device=x.device)
    run_sum = torch.zeros(x.shape[:1], dtype=x.dtype, device=x.device)
    acc = torch.zeros_like(x) if want_score else None
    for logpi, mean, lam, basis in live:
        lp, s = gaussian_log_prob_and_score(x, mean, lam, basis, want_score)
        lp = lp + logpi
        new_max = torch.maximum(run_max, lp)
        rescale = torch.exp(run_max - new_max)
        wk = torch.exp(lp - new_max)
        run_sum = run_sum * rescale + wk
        if want_score:
            acc = acc * rescale[:, None] + wk[:, None] * s
        run_max = new_max
    logp = run_max + torch.log(run_sum)
    return logp, (acc / run_sum[:, None] if want_score else None)


def _all_components(x: torch.Tensor, comps, want_score: bool):
    r"""Every component at once, in whitened coordinates $z_k = (x - m_k)A_k$, $A_k = U_k\Lambda_k^{-1/2}$:
    $\log\pi_kN_k(x) = c_k - \tfrac12\|z_k\|^2$ and $s_k(x) = -z_kA_k^\top$, so
    $\sum_kw_ks_k = -[w_1z_1, \dots, w_Kz_K]\,[A_1 \cdots A_K]^\top$.

    Full bases: one GEMM $x[A_1 \cdots A_K]$ (the means folded in as a bias), the per-component sums
    of squares by a GEMM with a block-indicator matrix, one GEMM back. Diagonal covariances:
    $\|z_k\|^2 = x^2\cdot\lambda_k^{-1} - 2x\cdot(m_k/\lambda_k) + m_k^2\cdot\lambda_k^{-1}$ and
    $\sum_kw_ks_k = -x\odot(w\Lambda^{-1}) + w(M/\Lambda)$: GEMMs with $K$ columns, no ``[n, K, d]``
    temporary. The softmax over $k$ runs on the ``[K, rows]`` transpose (reductions over a short last
    axis are slow in torch). About ten tensor operations per call whatever $K$ is, instead of about
    seventeen per component (at n = 4096 and d = 2-16 the per-component loop was bound by those small
    operations: ``benchmarks/perf/test_perf_sampling.py``). Rows go in blocks of ``BLOCK_ELEMENTS`` so
    the temporaries stay small.
    """
    n, d = x.shape
    K = len(comps)
    dt, dev = x.dtype, x.device
    logpi = torch.tensor([c[0] for c in comps], dtype=dt, device=dev)
    means = torch.stack([c[1] for c in comps])  # [K, d]
    lam = torch.stack([c[2] for c in comps])  # [K, d]
    const = logpi - 0.5 * (LOG_2PI * d + torch.log(lam).sum(-1))  # [K]
    full = comps[0][3] is not None
    if full:
        A = torch.stack([c[3] for c in comps]) * lam.rsqrt()[:, None, :]  # A_k = U_k diag(lam_k^-1/2)
        A_cat = A.permute(1, 0, 2).reshape(d, K * d)  # x @ A_cat = [x A_1, ..., x A_K]
        bias = -torch.einsum("kd,kde->ke", means, A).reshape(K * d)  # -m_k A_k
        neg_back = -A_cat.T  # [K d, d]
        blocks = torch.zeros(K * d, K, dtype=dt, device=dev)  # block indicator: sums each z_k's squares
        for k in range(K):
            blocks[k * d : (k + 1) * d, k] = -0.5
        rows = max(64, BLOCK_ELEMENTS // (K * d))
    else:
        inv = 1.0 / lam  # [K, d]
        m_inv = means * inv  # [K, d]
        const = const - 0.5 * (means * m_inv).sum(-1)
        inv_t, m_inv_t = -0.5 * inv.T.contiguous(), m_inv.T.contiguous()  # [d, K]
        rows = max(64, BLOCK_ELEMENTS // max(K, d))
    logp = torch.empty(n, dtype=dt, device=dev)
    score = torch.empty_like(x) if want_score else None
    for start in range(0, n, rows):
        xb = x[start : start + rows]
        b = xb.shape[0]
        if full:
            z = torch.addmm(bias, xb, A_cat)  # [b, K d]
            lp = torch.addmm(const, z * z, blocks)  # c_k - |z_k|^2 / 2: [b, K]
        else:
            lp = torch.addmm(const, xb * xb, inv_t).add_(xb @ m_inv_t)  # [b, K]
        lpt = lp.T.contiguous()  # [K, b]: the softmax over k reduces over the leading axis
        top = lpt.amax(0)
        w = lpt.sub_(top).exp_()
        tot = w.sum(0)
        logp[start : start + b] = top + torch.log(tot)
        if want_score:
            w.div_(tot)  # [K, b] responsibilities
            if full:
                z.view(b, K, d).mul_(w.T[..., None])
                torch.mm(z, neg_back, out=score[start : start + b])
            else:
                wt = w.T  # [b, K]
                torch.addcmul(wt @ m_inv, xb, wt @ inv, value=-1.0, out=score[start : start + b])
    return logp, score


class MixtureNoisedLaw(NoisedLaw):
    r"""$p_t = \sum_k\pi_kN(\alpha_t\mu_k, \alpha_t^2C_k + \sigma_t^2I)$ (metrics-and-exact.md §3.5)."""

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        comps = self.target._components_on(x, self.alpha, self.sigma2)
        return mixture_log_prob_and_score(x, comps, want_score=False)[0]

    def score(self, x: torch.Tensor) -> torch.Tensor:
        r"""$\sum_kw_k(x)\,[-C_{k,t}^{-1}(x - \alpha_t\mu_k)]$ with log-sum-exp responsibilities."""
        comps = self.target._components_on(x, self.alpha, self.sigma2)
        return mixture_log_prob_and_score(x, comps)[1]

    def hessian_log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return self.target.hessian_log_prob(x, self.alpha, self.sigma2)

    def gaussian_components(self):
        return self.target.gaussian_components(self.alpha, self.sigma2)


# ------------------------------------------------------------------------------------------------
# Registry entry
# ------------------------------------------------------------------------------------------------
def polygon_means(dim: int, components: int, separation: float) -> torch.Tensor:
    """``components`` means, adjacent ones ``separation`` apart: a centred regular polygon in coords 1-2
    (line if dim=1)."""
    K = components
    means = torch.zeros(K, dim, dtype=DTYPE)
    if K == 1:
        return means
    if dim == 1 or K == 2:
        means[:, 0] = (torch.arange(K, dtype=DTYPE) - (K - 1) / 2) * separation
        return means
    radius = separation / (2 * math.sin(math.pi / K))
    angle = 2 * math.pi * torch.arange(K, dtype=DTYPE) / K
    means[:, 0] = radius * torch.cos(angle)
    means[:, 1] = radius * torch.sin(angle)
    return means


@targets.register(
    "mixture",
    summary="K isotropic Gaussians var*I, means on a regular polygon (adjacent distance separation), weights",
    source="closed form (metrics-and-exact.md §3.5; bounds-tv-kl.md §2.6 (b))",
)
def mixture(
    dim: int = 2, components: int = 2, separation: float = 4.0, var: Any = 0.5, weights: Any = None
) -> MixtureTarget:
    """Mixture of ``components`` N(mu_k, var_k I); ``var`` scalar or one per component; ``weights`` default
    uniform."""
    dim = check_count("dim", dim)
    K = check_count("components", components)
    sep = check_positive("separation", separation, allow_zero=True)
    w = torch.full((K,), 1.0 / K, dtype=DTYPE) if weights is None else as_vector("weights", weights, K)
    if isinstance(weights, (int, float)) and K > 1:
        raise SgmbenchError(f"weights must be a ';'-list of {K} numbers, got {weights!r}")
    v = as_vector("var", var, K, positive=True)
    params = {"dim": dim, "components": K, "separation": separation, "var": var}
    if weights is not None:
        params["weights"] = weights
    return MixtureTarget(w, polygon_means(dim, K, sep), [float(vk) for vk in v], params=params)


__all__ = ["MixtureNoisedLaw", "MixtureTarget", "mixture", "mixture_log_prob_and_score", "polygon_means"]
