"""Every registered target passes the same contract: shapes, dtype, finiteness, score = grad log p_t, Stein,
constants."""

import dataclasses
import math

import pytest
import torch

from sgmbench.errors import SgmbenchError
from sgmbench.processes import get_process
from sgmbench.targets import NoisedLaw, Target, TargetConstants, get_target, targets

# one or more small specs per registry entry (the test below checks every entry is covered)
SPECS = [
    "gaussian:dim=3,mean=1,var=0.5",
    "gaussian:dim=4,mean=0.5;-1;0;2,var=1,cond=10,rotate=true",
    "mixture:dim=2,components=3,separation=3,var=0.5,weights=0.2;0.3;0.5",
    "empirical-gaussian:dim=3,num_train=50,mean=1,var=2",
    "empirical-mixture:num_train=40",
    "circle",
    "circle:dim=3,radius=2,rotate=true",
    "sphere",
    "sphere:dim=6,manifold_dim=4,radius=1.5",
    "digits:num_train=150,standardise=true",
    "two-moons",
    "four-clusters",
]
PROCESSES = ["vp-linear", "ve-exp", "subvp", "edm"]
FRACTIONS = [0.02, 0.3, 0.9]


def test_every_registry_entry_is_covered():
    assert {s.split(":")[0] for s in SPECS} == set(targets.names())


def test_registry_rows_name_their_source():
    for row in targets.describe():
        assert row["source"] and row["summary"], row["name"]


@pytest.fixture(scope="module", params=SPECS)
def target(request) -> Target:
    return get_target(request.param)


def test_sample_shapes_dtype_reproducible(target):
    g = lambda: torch.Generator().manual_seed(3)
    x = target.sample(17, generator=g())
    assert x.shape == (17, target.dim) and x.dtype == torch.float64 and bool(torch.isfinite(x).all())
    assert torch.equal(x, target.sample(17, generator=g()))
    assert target.sample(5, generator=g(), dtype=torch.float32).dtype == torch.float32
    assert target.sample(0).shape == (0, target.dim)


def test_log_prob_at_time_zero(target):
    x = target.sample(8, generator=torch.Generator().manual_seed(0))
    if target.has_density:
        lp = target.log_prob(x)
        assert lp.shape == (8,) and bool(torch.isfinite(lp).all())
        law0 = target.noised(get_process("vp-linear"), 0.0)
        assert torch.allclose(law0.log_prob(x), lp, rtol=1e-12, atol=1e-12)
    else:
        with pytest.raises(SgmbenchError):
            target.log_prob(x)
        with pytest.raises(SgmbenchError):
            target.noised(get_process("vp-linear"), 0.0).score(x)


@pytest.mark.parametrize("process_name", PROCESSES)
def test_noised_score_is_gradient_of_noised_log_prob(target, process_name):
    """score(x) == autograd of log_prob(x) at points from p_t, for each process family and a few times."""
    process = get_process(process_name)
    for frac in FRACTIONS:
        t = frac * process.default_horizon
        law = target.noised(process, t)
        assert isinstance(law, NoisedLaw)
        x = law.sample(16, generator=torch.Generator().manual_seed(1))
        x = torch.cat([x, 3.0 * x[:2]])  # also points in the tails
        x.requires_grad_(True)
        lp = law.log_prob(x)
        (grad,) = torch.autograd.grad(lp.sum(), x)
        s = law.score(x.detach())
        assert lp.shape == (18,) and s.shape == x.shape and s.dtype == torch.float64
        assert bool(torch.isfinite(lp).all()) and bool(torch.isfinite(s).all())
        scale = float(s.abs().max()) + 1.0
        assert torch.allclose(s, grad, rtol=1e-9, atol=1e-10 * scale), (process_name, t)


@pytest.mark.parametrize("frac", [0.05, 0.5])
def test_stein_identities(target, frac):
    r"""$E_{p_t}[s(X)] = 0$ and $E_{p_t}[s(X)X^\top] = -I$ within 5 Monte Carlo standard errors."""
    process = get_process("vp-linear")
    law = target.noised(process, frac)
    n = 20_000
    x = law.sample(n, generator=torch.Generator().manual_seed(7))
    s = law.score(x)
    eye = torch.eye(target.dim, dtype=torch.float64)
    # first moments and entrywise second moments by matmul (memory O(n d), not O(n d^2))
    checks = [
        (s.mean(0), (s * s).mean(0), torch.zeros(target.dim, dtype=torch.float64)),
        (s.T @ x / n, (s * s).T @ (x * x) / n, -eye),
    ]
    for mean, second, expected in checks:
        se = (second - mean**2).clamp_min(0).sqrt() / math.sqrt(n - 1)
        excess = (mean - expected).abs() / (se + 1e-12)
        assert bool((mean - expected).abs().le(5 * se + 1e-9).all()), float(excess.max())


def test_constants_present_with_provenance(target):
    c = target.constants()
    assert isinstance(c, TargetConstants) and c.dim == target.dim
    fields = [f.name for f in dataclasses.fields(c) if f.name not in ("dim", "provenance")]
    for name in fields:
        assert name in c.provenance, name
        assert c.provenance[name].split(":")[0].split(" ")[0] in (
            "exact",
            "bound",
            "estimated",
            "unknown",
            "not",
        )
        value = getattr(c, name)
        if value is not None and name != "cov_eigenvalues":
            assert math.isfinite(value), name
    if target.has_density:
        assert c.kl_to_standard_normal is not None
    else:
        assert c.strong_log_concavity is None and c.kl_to_standard_normal is None


def test_second_moment_matches_samples(target):
    c = target.constants()
    n = 20_000
    x = target.sample(n, generator=torch.Generator().manual_seed(11))
    sq = (x * x).sum(-1)
    se = float(sq.std()) / math.sqrt(n)
    assert abs(float(sq.mean()) - c.second_moment) < 5 * se + 1e-12
    if c.cov_eigenvalues is not None:
        assert len(c.cov_eigenvalues) == target.dim
        assert math.isclose(
            sum(c.cov_eigenvalues) + c.mean_norm**2, c.second_moment, rel_tol=1e-9, abs_tol=1e-9
        )
    if c.support_radius is not None:
        assert float(sq.max().sqrt()) <= c.support_radius * (1 + 1e-12)


def test_float32_and_describe(target):
    law = target.noised(get_process("vp-linear"), 0.4)
    x = law.sample(4, generator=torch.Generator().manual_seed(0), dtype=torch.float32)
    s = law.score(x)
    assert s.dtype == torch.float32 and bool(torch.isfinite(s).all())
    d = target.describe()
    assert d["name"] == target.name and d["source"] and d["params"]["dim"] == target.dim


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(target):
    law = target.noised(get_process("vp-linear"), 0.3)
    x = law.sample(32, generator=torch.Generator().manual_seed(0))
    xc = x.cuda()
    assert torch.allclose(law.score(xc).cpu(), law.score(x), rtol=1e-10, atol=1e-10)
    assert torch.allclose(law.log_prob(xc).cpu(), law.log_prob(x), rtol=1e-10, atol=1e-10)
    y = target.sample(8, generator=torch.Generator().manual_seed(0), device="cuda")
    y_cpu = target.sample(8, generator=torch.Generator().manual_seed(0))
    assert y.device.type == "cuda" and torch.allclose(y.cpu(), y_cpu, rtol=1e-12, atol=1e-12)
