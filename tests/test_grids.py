"""Time grids: shape and endpoints for every registry entry, closed-form kappa values, bad input."""

import math

import pytest
import torch

from sgmbench.errors import SgmbenchError
from sgmbench.grids import (
    available_grids,
    benton,
    check_grid,
    grid_kappa,
    grids,
    make_grid,
    max_step,
    step_sizes,
)
from sgmbench.processes import get_process

PROCESSES = ["vp-linear", "ve-exp", "ou", "edm", "vp-cosine"]


@pytest.mark.parametrize("name", available_grids())
@pytest.mark.parametrize("process_name", PROCESSES)
@pytest.mark.parametrize("num_steps", [1, 2, 7, 64])
def test_grid_contract(name, process_name, num_steps):
    """Every grid: float64, N + 1 strictly decreasing times, endpoints exactly T and delta."""
    p = get_process(process_name)
    T = p.default_horizon
    delta = 1e-3 * T
    g = make_grid(name, p, T, delta, num_steps)
    assert g.dtype == torch.float64 and g.shape == (num_steps + 1,)
    assert float(g[0]) == T and float(g[-1]) == delta
    assert bool((g[:-1] > g[1:]).all())
    assert max_step(g) == pytest.approx(float((g[:-1] - g[1:]).max()))


def test_registry_names():
    assert set(available_grids()) == {"uniform", "benton", "geometric", "karras", "log-snr"}
    with pytest.raises(SgmbenchError, match="valid: benton"):
        make_grid("nope", get_process("ou"), 1.0, 0.1, 4)


def test_uniform_kappa_and_max_step():
    """T=2, delta=0.5, N=3: steps 0.5, t_{k+1} = 1.5, 1, 0.5, so kappa = max(0.5, 0.5, 1) = 1."""
    g = make_grid("uniform", get_process("ou"), 2.0, 0.5, 3)
    assert torch.equal(g, torch.tensor([2.0, 1.5, 1.0, 0.5], dtype=torch.float64))
    assert grid_kappa(g) == pytest.approx(1.0, rel=1e-15)
    assert max_step(g) == pytest.approx(0.5, rel=1e-15)
    # Benton et al.: a uniform grid ending at delta has kappa = h / delta
    g = make_grid("uniform", get_process("ou"), 1.0, 1e-3, 100)
    assert grid_kappa(g) == pytest.approx((1 - 1e-3) / 100 / 1e-3, rel=1e-12)


def test_kappa_infinite_without_early_stopping():
    assert grid_kappa(make_grid("uniform", get_process("ou"), 1.0, 0.0, 4)) == math.inf


def test_geometric_is_constant_ratio():
    """t_k = T (delta/T)^(k/N): kappa = (T/delta)^(1/N) - 1 when T <= 1."""
    T, delta, N = 0.8, 1e-4, 50
    g = make_grid("geometric", get_process("ou"), T, delta, N)
    ratio = g[1:] / g[:-1]
    assert torch.allclose(ratio, torch.full_like(ratio, (delta / T) ** (1 / N)), rtol=1e-12)
    assert grid_kappa(g) == pytest.approx((T / delta) ** (1 / N) - 1, rel=1e-10)


@pytest.mark.parametrize("N", [2, 3, 10, 101])
def test_benton_structure_and_kappa(N):
    """Half uniform on [1, T], half geometric on [delta, 1]; kappa = max((T-1)/M, delta^(-1/(N-M)) - 1)."""
    T, delta = 5.0, 1e-3
    g = make_grid("benton", get_process("ou"), T, delta, N)
    M = N // 2
    assert float(g[M]) == 1.0
    steps = step_sizes(g)
    assert torch.allclose(steps[:M], torch.full((M,), (T - 1) / M, dtype=torch.float64), rtol=1e-12)
    q = g[M + 1 :] / g[M:-1]
    assert torch.allclose(q, torch.full_like(q, delta ** (1 / (N - M))), rtol=1e-12)
    expected = max((T - 1) / M, delta ** (-1 / (N - M)) - 1)
    assert grid_kappa(g) == pytest.approx(expected, rel=1e-10)
    # bounds-tv-kl.md §3.3: kappa ~ 2 max(T - 1, log(1/delta)) / N for large N
    if N > 100:
        assert grid_kappa(g) == pytest.approx(2 * max(T - 1, math.log(1 / delta)) / N, rel=0.1)


def test_benton_short_horizon_is_geometric():
    """An OU horizon below the split (tau_T <= 1) gives an all-geometric grid (for ``ou``, tau(t) = t)."""
    p = get_process("ou")
    assert torch.allclose(benton(p, 0.8, 1e-3, 8), make_grid("geometric", p, 0.8, 1e-3, 8), rtol=1e-12)


def test_benton_grid_lives_in_the_ou_clock():
    """vp-constant:beta=4 is ``ou`` run twice as fast (tau = 2t), so its Benton grid is ou's grid halved."""
    fast = make_grid("benton", get_process("vp-constant:beta=4"), 4.0, 1e-3, 40)
    ou = make_grid("benton", get_process("ou"), 8.0, 2e-3, 40)
    assert torch.allclose(fast, ou / 2, rtol=1e-10)


def test_karras_matches_k_diffusion_formula_for_edm():
    """For edm, sigma(t) = t, so the grid is k-diffusion's get_sigmas_karras (without its appended 0)."""
    p = get_process("edm")
    N, smin, smax, rho = 18, 0.002, 80.0, 7.0
    g = make_grid("karras", p, smax, smin, N)
    i = torch.arange(N + 1, dtype=torch.float64)
    ref = (smax ** (1 / rho) + i / N * (smin ** (1 / rho) - smax ** (1 / rho))) ** rho
    assert torch.allclose(g, ref, rtol=1e-10)


def test_karras_on_noise_level_for_vp():
    """For VP the noise level sqrt(rho_t) of the grid follows the rho-schedule; rho is a parameter."""
    p = get_process("vp-linear")
    g = make_grid("karras:rho=3", p, 1.0, 1e-3, 10)
    s = torch.sqrt(p.rho(g)) ** (1 / 3)
    assert torch.allclose(
        s[1:] - s[:-1], torch.full((10,), float(s[1] - s[0]), dtype=torch.float64), rtol=1e-8
    )


def test_karras_allows_delta_zero():
    g = make_grid("karras", get_process("ve-exp"), 1.0, 0.0, 5)
    assert float(g[-1]) == 0.0 and bool((g[:-1] > g[1:]).all())


def test_log_snr_is_uniform_in_log_snr():
    p = get_process("vp-cosine")
    g = make_grid("log-snr", p, p.default_horizon, 1e-3, 20)
    lam = torch.log(p.snr(g))
    d = lam[1:] - lam[:-1]
    assert torch.allclose(d, torch.full_like(d, float(d.mean())), rtol=1e-8)


@pytest.mark.parametrize(
    "spec, T, delta, N",
    [
        ("uniform", 1.0, 0.0, 0),
        ("uniform", 1.0, 0.0, -3),
        ("uniform", 1.0, 0.0, 2.5),
        ("uniform", 1.0, 0.0, True),
        ("uniform", 1.0, -0.1, 4),
        ("uniform", 1.0, 1.0, 4),
        ("uniform", 1.0, 2.0, 4),
        ("uniform", 0.0, 0.0, 4),
        ("uniform", math.inf, 0.0, 4),
        ("geometric", 1.0, 0.0, 4),
        ("log-snr", 1.0, 0.0, 4),
        ("benton", 5.0, 0.0, 4),
        ("benton:split=0.5", 5.0, 0.7, 4),
        ("karras:rho=0", 1.0, 0.1, 4),
        ("uniform:num_steps=3", 1.0, 0.1, 4),
        ("uniform:foo=1", 1.0, 0.1, 4),
    ],
)
def test_bad_input(spec, T, delta, N):
    with pytest.raises(SgmbenchError):
        make_grid(spec, get_process("ou"), T, delta, N)


def test_check_grid_rejects_bad_grids():
    for bad in ([1.0], [1.0, 1.0], [0.5, 1.0], [1.0, float("nan")], [1.0, -0.1], [[1.0, 0.5]]):
        with pytest.raises(SgmbenchError):
            check_grid(torch.tensor(bad, dtype=torch.float64))


def test_registry_describes_grid_parameters():
    rows = {r["name"]: r for r in grids.describe()}
    assert rows["karras"]["parameters"]["rho"] == 7.0
    assert rows["benton"]["parameters"]["split"] == 1.0
