r"""The 2-D data sets of Kwon–Fan–Lee 2022 (arXiv 2212.06359, Sec. 5): two moons and four clusters.

Both are laws of the form $X_0 = C + \nu Z$ with $C$ on a set of centres and $Z \sim N(0, I)$, so the
noised law is a (continuous or finite) isotropic Gaussian mixture

$$p_t(x) = \int N\big(x;\ \alpha_t c,\ s_t^2 I\big)\,\mu(dc), \qquad s_t^2 = \alpha_t^2\nu^2 + \sigma_t^2,
\qquad \nabla\log p_t(x) = E_{\mu(\cdot\mid x)}[\alpha_t c - x]/s_t^2 .$$

- ``two-moons``: $\mu$ is uniform on the two half circles of :func:`sklearn.datasets.make_moons`
  (outer $(\cos\theta, \sin\theta)$, inner $(1-\cos\theta, \tfrac12-\sin\theta)$, $\theta\in[0,\pi]$,
  each moon with probability ½), times ``scale``; ``noise`` is the make_moons noise before scaling, so
  $\nu = $ ``scale``·``noise``. KFL use ``make_moons(5000, noise=0.1)/2``, our defaults. Unlike
  make_moons (evenly spaced angles) the angles are i.i.d. uniform, so samples are i.i.d. The density
  has no closed form; it is a 1-D integral over $\theta$, computed by Gauss–Legendre quadrature with
  ``num_nodes`` nodes per moon (provenance ``quadrature``; relative error below 1e-9 at the defaults,
  checked in the tests against twice the nodes). The quadrature needs the kernel width
  $s_t$ well above the node spacing $\approx$ ``scale``$\cdot\pi/$``num_nodes``; at the default noise
  $s_t \ge 0.05$ against 0.006. With ``noise=0`` the data law has no density (``log_prob`` at $t = 0$
  raises :class:`SgmbenchError`); $p_t$ for $t > 0$ has one (raise ``num_nodes`` for small $t$).
- ``four-clusters``: equal mixture of $N((\pm a, \pm a), \nu^2 I)$, $a$ = ``spread`` = 0.5 and
  $\nu$ = ``std`` = 0.1 (KFL report: $N((\pm0.5,\pm0.5), 0.01 I)$; the notebook's ``PointsDataset``
  effectively uses std 0.0125): a :class:`~sgmbench.targets.mixture.MixtureTarget` (exact density,
  score and constants from there).

Derived by us for two moons: the moments (``constants``) and the Hessian bound
$\|\nabla^2\log p_0\| \le \max(1/\nu^2, D^2/(4\nu^4) - 1/\nu^2)$, $D$ the diameter of the centre set
(the posterior covariance of the centre has norm $\le D^2/4$ by Popoviciu's inequality).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from sgmbench.errors import SgmbenchError
from sgmbench.registry import check_positive
from sgmbench.targets.base import NoisedLaw, Target, TargetConstants, targets
from sgmbench.targets.mixture import MixtureTarget


class IsotropicMixtureLaw(NoisedLaw):
    r"""Law of $\alpha_t C + s_t Z$ with $C$ on weighted centres: $\sum_k w_k N(\alpha_t c_k, s_t^2 I)$."""

    def __init__(
        self,
        target: Target,
        process,
        t: float,
        centres: torch.Tensor,
        log_weights: torch.Tensor,
        base_var: float,
    ):
        super().__init__(target, process, t)
        self.centres = centres
        self.log_weights = log_weights
        self.var = self.alpha**2 * base_var + self.sigma2

    def _check(self) -> None:
        if not self.var > 0:
            raise SgmbenchError(f"target {self.target.name!r} has no density at t = {self.t} (zero noise)")

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        c = (self.alpha * self.centres).to(device=x.device, dtype=x.dtype)
        d2 = (x**2).sum(-1, keepdim=True) - 2 * x @ c.T + (c**2).sum(-1)
        return self.log_weights.to(device=x.device, dtype=x.dtype) - 0.5 * d2.clamp_min(0) / self.var

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        self._check()
        d = x.shape[-1]
        return torch.logsumexp(self._logits(x), -1) - 0.5 * d * math.log(2 * math.pi * self.var)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        self._check()
        r = torch.softmax(self._logits(x), -1)
        c = (self.alpha * self.centres).to(device=x.device, dtype=x.dtype)
        return (r @ c - x) / self.var


@targets.register(
    "two-moons",
    summary="sklearn make_moons law (i.i.d. angles) times scale; density by quadrature over the angle",
    source="Kwon-Fan-Lee 2022 (arXiv 2212.06359) Sec. 5: make_moons(noise=0.1)/2",
)
class TwoMoons(Target):
    """Two moons (``noise`` before scaling, ``scale``, ``num_nodes`` quadrature nodes per moon); 2-D."""

    name = "two-moons"
    source = "Kwon-Fan-Lee 2022, Sec. 5; sklearn.datasets.make_moons"

    def __init__(self, noise: float = 0.1, scale: float = 0.5, num_nodes: int = 256, dim: int = 2):
        _check_dim(dim)
        noise = check_positive("noise", noise, allow_zero=True)
        scale = check_positive("scale", scale)
        if isinstance(num_nodes, bool) or not isinstance(num_nodes, int) or num_nodes < 8:
            raise SgmbenchError(f"num_nodes must be an integer >= 8, got {num_nodes!r}")
        super().__init__(2, noise=noise, scale=scale, num_nodes=num_nodes)
        self.noise, self.scale = noise, scale
        nodes, weights = np.polynomial.legendre.leggauss(num_nodes)
        theta = torch.as_tensor(np.pi / 2 * (nodes + 1), dtype=torch.float64)
        w = torch.as_tensor(weights / 2, dtype=torch.float64)  # sums to 1 over [0, pi]
        self.centres = scale * torch.cat([self._arc(theta, 0), self._arc(theta, 1)])
        self.log_weights = torch.log(torch.cat([w, w]) / 2)
        self._constants: TargetConstants | None = None

    @staticmethod
    def _arc(theta: torch.Tensor, moon: int | torch.Tensor) -> torch.Tensor:
        outer = torch.stack([torch.cos(theta), torch.sin(theta)], -1)
        inner = torch.stack([1 - torch.cos(theta), 0.5 - torch.sin(theta)], -1)
        if isinstance(moon, int):
            return inner if moon else outer
        return torch.where(moon.unsqueeze(-1), inner, outer)

    def sample(self, n, generator=None, device="cpu", dtype=torch.float64):
        theta = math.pi * torch.rand(n, generator=generator, dtype=torch.float64)
        moon = torch.rand(n, generator=generator, dtype=torch.float64) < 0.5
        z = torch.randn(n, 2, generator=generator, dtype=torch.float64)
        x = self.scale * (self._arc(theta, moon) + self.noise * z)
        return x.to(device=device, dtype=dtype)

    def noised(self, process, t: float) -> NoisedLaw:
        return IsotropicMixtureLaw(
            self, process, t, self.centres, self.log_weights, (self.scale * self.noise) ** 2
        )

    def log_prob(self, x):
        if self.noise == 0:
            raise SgmbenchError("target 'two-moons' with noise=0 has no density at t = 0")
        return IsotropicMixtureLaw(
            self, _Identity(), 0.0, self.centres, self.log_weights, (self.scale * self.noise) ** 2
        ).log_prob(x)

    def constants(self) -> TargetConstants:
        r"""Moments exact (derived: over $\theta\sim U[0,\pi]$, $E\cos = 0$, $E\sin = 2/\pi$,
        $E\cos^2 = E\sin^2 = \tfrac12$, $E\cos\sin = 0$); $L_0$ the bound of the module docstring with $D$ the
        diagonal of the bounding box $[-1, 2]\times[-\tfrac12, 1]$ (times ``scale``); KL and relative Fisher
        information to $N(0, I)$ by Monte Carlo (n = 20 000, quadrature density)."""
        if self._constants is not None:
            return self._constants
        s, nu = self.scale, self.scale * self.noise
        mean = s * np.array([0.5, 0.25])
        cov = np.array([[0.75, 0.125 - 1 / np.pi], [0.125 - 1 / np.pi, 0.5625 - 1 / np.pi]])
        cov = s**2 * cov + nu**2 * np.eye(2)
        diameter = s * math.hypot(3.0, 1.5)
        prov = {
            "second_moment": "exact",
            "mean_norm": "exact",
            "cov_eigenvalues": "exact",
            "strong_log_concavity": "exact: not log-concave (two separated arcs)",
        }
        kl = fisher = lip = radius = None
        if nu > 0:
            lip = max(1.0 / nu**2, diameter**2 / (4 * nu**4) - 1.0 / nu**2)
            prov["score_lipschitz"] = "bound: max(1/nu^2, D^2/(4 nu^4) - 1/nu^2) (derived by us, Popoviciu)"
            prov["support_radius"] = "exact: unbounded"
            n = 20_000
            x = self.sample(n, generator=torch.Generator().manual_seed(12345))
            law = self.noised(_Identity(), 0.0)
            kl_terms = law.log_prob(x) + 0.5 * (x * x).sum(-1) + math.log(2 * math.pi)
            fi_terms = ((law.score(x) + x) ** 2).sum(-1)
            kl, fisher = float(kl_terms.mean()), float(fi_terms.mean())
            for name, terms in (("kl_to_standard_normal", kl_terms), ("fisher_to_standard_normal", fi_terms)):
                prov[name] = f"estimated: Monte Carlo, n={n}, stderr={float(terms.std()) / math.sqrt(n):.3g}"
        else:
            radius = s * math.sqrt(4.25)  # max |c| is attained at the end (2, 0.5) of the inner arc
            prov["score_lipschitz"] = "exact: no density (noise = 0)"
            prov["support_radius"] = "exact"
            prov["kl_to_standard_normal"] = "exact: infinite (no density)"
            prov["fisher_to_standard_normal"] = "exact: infinite (no density)"
        self._constants = TargetConstants(
            dim=2,
            second_moment=float(np.trace(cov) + mean @ mean),
            mean_norm=float(np.linalg.norm(mean)),
            cov_eigenvalues=tuple(float(e) for e in np.linalg.eigvalsh(cov)),
            strong_log_concavity=None,
            score_lipschitz=lip,
            support_radius=radius,
            kl_to_standard_normal=kl,
            fisher_to_standard_normal=fisher,
            provenance=prov,
        )
        return self._constants


@targets.register(
    "four-clusters",
    summary="equal mixture of N((+-spread, +-spread), std^2 I) in 2-D",
    source="Kwon-Fan-Lee 2022 (arXiv 2212.06359) Sec. 5: N((+-0.5, +-0.5), 0.01 I)",
)
class FourClusters(MixtureTarget):
    """Four isotropic Gaussian clusters at the corners of a square (``spread``, ``std``): a mixture."""

    name = "four-clusters"
    source = "Kwon-Fan-Lee 2022, Sec. 5"

    def __init__(self, spread: float = 0.5, std: float = 0.1, dim: int = 2):
        spread = check_positive("spread", spread)
        std = check_positive("std", std)
        _check_dim(dim)
        means = spread * torch.tensor(
            [[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]], dtype=torch.float64
        )
        super().__init__(
            torch.full((4,), 0.25, dtype=torch.float64), means, std**2, params={"spread": spread, "std": std}
        )
        self.spread, self.std = spread, std


def _check_dim(dim) -> None:
    if dim != 2 or isinstance(dim, bool):
        raise SgmbenchError(f"this target is 2-D: dim must be 2, got {dim!r}")


class _Identity:
    """The trivial process at t = 0 (alpha = 1, sigma = 0), used for the data law itself."""

    def alpha(self, t):
        return torch.tensor(1.0, dtype=torch.float64)

    def sigma2(self, t):
        return torch.tensor(0.0, dtype=torch.float64)
