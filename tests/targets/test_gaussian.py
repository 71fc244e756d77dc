"""Gaussian target: the CLI contract, constructors, noised law vs torch.distributions, exact constants, bad
input."""

import math

import pytest
import torch
from torch.distributions import MultivariateNormal, kl_divergence

from sgmbench.errors import SgmbenchError
from sgmbench.laws import DiagGaussian
from sgmbench.processes import get_process
from sgmbench.targets import GaussianTarget, get_target

D64 = torch.float64


def _spd(d, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(d, d, generator=g, dtype=D64)
    return a @ a.T / d + 0.3 * torch.eye(d, dtype=D64)


def test_cli_contract_isotropic():
    """`gaussian:dim=D,mean=M,var=V` is N(M 1_D, V I_D), axis-aligned (no d x d matrix)."""
    t = get_target("gaussian:dim=1000,mean=1.5,var=0.25")
    lam, U = t.eigh()
    assert t.is_gaussian and t.dim == 1000 and U is None
    assert torch.equal(t.mean, torch.full((1000,), 1.5, dtype=D64)) and torch.equal(
        lam, torch.full((1000,), 0.25, dtype=D64)
    )
    law = t.noised(get_process("vp-linear"), 0.5).as_diag_gaussian()
    assert isinstance(law, DiagGaussian) and law.basis is None


def test_per_coordinate_lists_and_inferred_dim():
    t = get_target("gaussian:mean=1;2,var=0.5;2")
    assert t.dim == 2 and t.mean.tolist() == [1.0, 2.0] and t.eigh()[0].tolist() == [0.5, 2.0]


def test_cond_gives_geometric_spectrum_and_rotate_is_seeded():
    t = get_target("gaussian:dim=5,var=0.5,cond=16")
    assert torch.allclose(t.eigh()[0], 0.5 * 16 ** (torch.arange(5, dtype=D64) / 4), rtol=1e-14)
    r1 = get_target("gaussian:dim=5,var=0.5,cond=16,rotate=true,basis_seed=3")
    r2 = get_target("gaussian:dim=5,var=0.5,cond=16,rotate=true,basis_seed=3")
    r3 = get_target("gaussian:dim=5,var=0.5,cond=16,rotate=true,basis_seed=4")
    lam, U = r1.eigh()
    assert torch.allclose(U.T @ U, torch.eye(5, dtype=D64), atol=1e-13)
    assert torch.equal(U, r2.eigh()[1]) and not torch.equal(U, r3.eigh()[1])
    assert torch.allclose(r1.covariance, (U * lam) @ U.T) and r1.covariance.shape == (5, 5)


def test_full_covariance_constructor_matches_torch():
    d = 4
    cov, mean = _spd(d), torch.tensor([0.5, -1.0, 2.0, 0.0], dtype=D64)
    t = GaussianTarget(mean, cov)
    ref = MultivariateNormal(mean, cov)
    x = ref.sample((50,))
    assert torch.allclose(t.log_prob(x), ref.log_prob(x), rtol=1e-12, atol=1e-12)
    assert torch.allclose(t.covariance, cov, atol=1e-13)
    # a diagonal matrix keeps the axis-aligned fast path
    assert GaussianTarget(mean, torch.diag(torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=D64))).eigh()[1] is None


@pytest.mark.parametrize(
    "process_name,t", [("vp-linear", 0.3), ("ve-exp", 0.5), ("subvp", 0.1), ("edm", 2.0)]
)
def test_noised_law_is_the_convolution(process_name, t):
    r"""$p_t = N(\alpha\mu, \alpha^2\Sigma + \sigma^2 I)$: log_prob and score vs MultivariateNormal +
    autograd."""
    p = get_process(process_name)
    d = 3
    cov, mean = _spd(d, 1), torch.tensor([1.0, -2.0, 0.5], dtype=D64)
    a, s2 = float(p.alpha(t)), float(p.sigma2(t))
    ref = MultivariateNormal(a * mean, a**2 * cov + s2 * torch.eye(d, dtype=D64))
    law = GaussianTarget(mean, cov).noised(p, t)
    x = ref.sample((20,)).requires_grad_(True)
    lp = ref.log_prob(x)
    (g,) = torch.autograd.grad(lp.sum(), x)
    assert torch.allclose(law.log_prob(x.detach()), lp.detach(), rtol=1e-12, atol=1e-12)
    assert torch.allclose(law.score(x.detach()), g, rtol=1e-10, atol=1e-12)
    dg = law.as_diag_gaussian()
    assert torch.allclose(dg.full_cov(), ref.covariance_matrix, atol=1e-12)
    assert torch.allclose(dg.full_mean(), a * mean, atol=1e-13)
    assert math.isclose(
        law.score_sq_norm_mean(), float(torch.trace(torch.linalg.inv(ref.covariance_matrix))), rel_tol=1e-11
    )


def test_sample_moments():
    t = get_target("gaussian:dim=3,mean=1;0;-1,var=0.5,cond=4,rotate=true")
    n = 200_000
    x = t.sample(n, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(x.mean(0), t.mean, atol=5 * math.sqrt(2.0 / n))
    assert torch.allclose(torch.cov(x.T), t.covariance, atol=5 * 2.0 * math.sqrt(2.0 / n))


def test_constants_exact():
    d = 3
    cov, mean = _spd(d, 2), torch.tensor([0.3, 0.0, -1.2], dtype=D64)
    t = GaussianTarget(mean, cov)
    c = t.constants()
    ev = torch.linalg.eigvalsh(cov)
    assert math.isclose(c.strong_log_concavity, 1 / float(ev.max()), rel_tol=1e-12)
    assert math.isclose(c.score_lipschitz, 1 / float(ev.min()), rel_tol=1e-12)
    assert math.isclose(c.second_moment, float(torch.trace(cov) + mean @ mean), rel_tol=1e-12)
    kl = kl_divergence(
        MultivariateNormal(mean, cov), MultivariateNormal(torch.zeros(d, dtype=D64), torch.eye(d, dtype=D64))
    )
    assert math.isclose(c.kl_to_standard_normal, float(kl), rel_tol=1e-11)
    # relative Fisher information against Monte Carlo
    n = 100_000
    x = t.sample(n, generator=torch.Generator().manual_seed(1))
    v = ((t.noised(get_process("ou"), 0.0).score(x) + x) ** 2).sum(-1)
    assert abs(float(v.mean()) - c.fisher_to_standard_normal) < 5 * float(v.std()) / math.sqrt(n)
    assert c.support_radius is None and set(c.provenance.values()) <= {"exact", "exact: unbounded support"}


def test_standard_normal_has_zero_kl_and_fisher():
    c = get_target("gaussian:dim=7").constants()
    assert c.kl_to_standard_normal == 0.0 and c.fisher_to_standard_normal == 0.0


@pytest.mark.parametrize(
    "spec",
    [
        "gaussian:dim=2,var=-1",
        "gaussian:dim=2,var=0",
        "gaussian:dim=0",
        "gaussian:dim=3,mean=1;2",
        "gaussian:dim=2,var=1;-2",
        "gaussian:dim=2,var=1;2,cond=3",
        "gaussian:dim=2,cond=-1",
        "gaussian:dim=2,foo=1",
        "gaussian:dim=2,rotate=maybe",
        "gaussian:dim=2,mean=nan",
        "gaussian:dim=1.5",
    ],
)
def test_bad_specs_raise_one_line_error(spec):
    with pytest.raises(SgmbenchError) as err:
        get_target(spec)
    assert "\n" not in str(err.value) and str(err.value)


def test_bad_covariances_raise():
    mean = torch.zeros(2, dtype=D64)
    for cov in (
        torch.tensor([[1.0, 2.0], [2.0, 1.0]]),
        torch.tensor([[1.0, 0.5], [0.0, 1.0]]),
        torch.ones(3, 3),
        torch.tensor([[1.0, 0.0], [0.0, -1.0]]),
        torch.tensor([[1.0, float("nan")], [0, 1]]),
    ):
        with pytest.raises(SgmbenchError) as err:
            GaussianTarget(mean, cov)
        assert "\n" not in str(err.value)
