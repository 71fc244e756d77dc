"""GPU timings of the empirical-score kernel and sampler (issue 10, item 6): run on a CUDA machine.

``python benchmarks/perf/gpu_empirical.py OUT_DIR`` writes ``OUT_DIR/gpu.json`` and ``OUT_DIR/gpu.md``:

- the machine's own matmul throughput for the kernel's shapes, ``torch.matmul`` of ``[m, d] x [d, n]``
  (float64 and float32, TF32 off: torch's default), median of CUDA-synchronised repeats;
- the streaming empirical optimal score (:func:`sgmbench.targets.empirical.empirical_posterior`) at
  n = 50,000 training points, d = 3072, m = 10,000 queries: FLOP/s counted as 4 m n d (two GEMMs) and
  its ratio to the matmul's 2 m n d / t, for the default tile and larger ones, with the peak extra
  GPU memory from torch's CUDA allocator statistics (``max_memory_allocated``: every tensor goes through
  that allocator) against one dense ``[m, n]`` matrix;
- the sampler end to end on CUDA (exponential integrator, vp-linear, empirical-optimal score):
  particle-steps per second with the noise as shipped (``IndependentNoise``: CPU generator, copied to
  the GPU, so runs are reproducible across devices), with noise drawn on the GPU, and the deterministic
  probability-flow Euler sampler (no noise);
- ``python -m sgmbench measure --device cuda ...`` wall time (the CLI path), when POT imports.

CPU is the default everywhere in sgmbench; this script is run by hand on a GPU machine (see
``results/perf/gpu.md``).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sgmbench.brownian import IndependentNoise, NoiseSource  # noqa: E402
from sgmbench.grids import make_grid  # noqa: E402
from sgmbench.processes import get_process  # noqa: E402
from sgmbench.samplers import get_sampler, initial_points  # noqa: E402
from sgmbench.scores import build_score  # noqa: E402
from sgmbench.targets.empirical import empirical_posterior  # noqa: E402

N_TRAIN, DIM, QUERIES, STEPS = 50_000, 3072, 10_000, 10
#: ``GPU_PERF_DRY=1``: tiny sizes on the CPU, to check the script itself without a GPU
DRY = os.environ.get("GPU_PERF_DRY") == "1"
if DRY:
    N_TRAIN, DIM, QUERIES, STEPS = 600, 16, 200, 3


def sync() -> None:
    if not DRY:
        torch.cuda.synchronize()


def timed(fn, reps: int = 3, warmup: int = 1) -> float:
    """Median seconds of ``fn()`` over ``reps`` CUDA-synchronised runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    sync()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        sync()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


class DeviceNoise(NoiseSource):
    """Fresh normals drawn on the GPU (not reproducible across devices; for timing only)."""

    def __init__(self, num_samples, dim, device, seed=0):
        self.num_samples, self.dim = num_samples, dim
        self.gen = torch.Generator(device=device).manual_seed(seed)
        self.device = device

    def normal(self, t_hi, t_lo, clock=None):
        return torch.randn(
            self.num_samples, self.dim, generator=self.gen, device=self.device, dtype=torch.float64
        )

    def aux_normal(self, t, index):
        return self.normal(t, t)


def main(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    res: dict = {"torch": torch.__version__, "cuda_available": torch.cuda.is_available()}

    def save():
        (out / "gpu.json").write_text(json.dumps(res, indent=1, default=str))

    if not torch.cuda.is_available() and not DRY:
        res["error"] = "no CUDA device"
        save()
        print(res)
        return 1
    dev = torch.device("cpu" if DRY else "cuda")
    if not DRY:
        props = torch.cuda.get_device_properties(dev)
        res.update(
            device=torch.cuda.get_device_name(dev),
            capability=".".join(map(str, torch.cuda.get_device_capability(dev))),
            sms=props.multi_processor_count,
            memory_gib=round(props.total_memory / 2**30, 1),
            cuda=torch.version.cuda,
            tf32_matmul=torch.backends.cuda.matmul.allow_tf32,
        )
    m, n, d = QUERIES, N_TRAIN, DIM
    flop_mm = 2.0 * m * n * d
    gen = torch.Generator(device=dev).manual_seed(0)
    pts = torch.randn(n, d, generator=gen, device=dev, dtype=torch.float64)
    x = torch.randn(m, d, generator=gen, device=dev, dtype=torch.float64)
    alpha, sigma2 = 0.7, 0.5

    # --- the machine's matmul throughput for these shapes ----------------------------------------
    for name, dt in (("float64", torch.float64), ("float32", torch.float32)):
        xa, pa = x.to(dt), pts.to(dt)
        t = timed(lambda xa=xa, pa=pa: torch.matmul(xa, pa.T), reps=5)
        res[f"matmul_{name}_s"] = t
        res[f"matmul_{name}_tflops"] = flop_mm / t / 1e12
        print(f"matmul {name}: {t * 1e3:.1f} ms, {flop_mm / t / 1e12:.1f} TFLOP/s", flush=True)
        del xa, pa
    (None if DRY else torch.cuda.empty_cache())
    save()

    # --- the streaming kernel: default tile and larger ones --------------------------------------
    kernel = {}
    for dt_name, dt in (("float64", torch.float64), ("float32", torch.float32)):
        xa, pa = x.to(dt), pts.to(dt)
        sq = torch.linalg.vector_norm(pa, dim=-1).square()
        for chunk in (None, 2048, 8192):
            if not DRY:
                torch.cuda.empty_cache()
                base = torch.cuda.memory_allocated()
                torch.cuda.reset_peak_memory_stats()
            t = timed(
                lambda xa=xa, pa=pa, sq=sq, chunk=chunk: empirical_posterior(
                    xa, pa, alpha, sigma2, points_sq=sq, chunk=chunk
                ),
                reps=3,
            )
            peak = 0 if DRY else torch.cuda.max_memory_allocated() - base
            key = f"{dt_name}_chunk{chunk or 'default'}"
            kernel[key] = dict(
                seconds=t,
                tflops=2 * flop_mm / t / 1e12,
                ratio_vs_matmul=2 * res[f"matmul_{dt_name}_s"] / t,
                peak_extra_mib=peak / 2**20,
                dense_mn_mib=m * n * xa.element_size() / 2**20,
            )
            print(key, {k: round(v, 3) for k, v in kernel[key].items()}, flush=True)
            res["kernel"] = kernel
            save()
        if dt_name == "float64":  # small sigma: nearly every weight underflows (the exp clamp's case)
            t = timed(
                lambda xa=xa, pa=pa, sq=sq: empirical_posterior(xa, pa, alpha, 1e-3, points_sq=sq), reps=3
            )
            kernel["float64_chunkdefault_sigma2=1e-3"] = dict(
                seconds=t, tflops=2 * flop_mm / t / 1e12, ratio_vs_matmul=2 * res["matmul_float64_s"] / t
            )
            print("float64 small sigma", kernel["float64_chunkdefault_sigma2=1e-3"], flush=True)
        # agreement with float64 on the same inputs (default tile)
        if dt_name == "float32":
            l64, m64 = empirical_posterior(x, pts, alpha, sigma2)
            l32, m32 = empirical_posterior(xa, pa, alpha, sigma2)
            res["float32_rel_err_mean"] = float((m32.double() - m64).norm() / m64.norm())
        del xa, pa, sq
    (None if DRY else torch.cuda.empty_cache())

    # --- the sampler end to end on CUDA ------------------------------------------------------------
    proc = get_process("vp-linear")
    grid = make_grid("uniform", proc, 1.0, 1e-3, STEPS)
    # the score as the CLI builds it: n points drawn on the CPU, moved to the GPU at the first call
    t0 = time.perf_counter()
    score = build_score(f"empirical-optimal:num_train={n}", f"gaussian:dim={d}", proc, seed=0)
    res["training_set_draw_s"] = time.perf_counter() - t0
    cpu_gen = torch.Generator().manual_seed(0)
    x0 = initial_points(proc, 1.0, m, d, generator=cpu_gen, device=dev)
    samplers = {
        "exponential-integrator, noise as shipped (CPU generator -> GPU)": (
            "exponential-integrator",
            lambda: IndependentNoise(m, d, torch.Generator().manual_seed(1)),
        ),
        "exponential-integrator, noise drawn on the GPU": (
            "exponential-integrator",
            lambda: DeviceNoise(m, d, dev, 1),
        ),
        "pf-euler (no noise)": ("pf-euler", lambda: None),
    }
    sampling = {}
    for label, (spec, noise) in samplers.items():
        smp = get_sampler(spec)
        short = make_grid("uniform", proc, 1.0, 1e-3, 2)
        smp(proc, short, score, x0, noise())  # warm-up (moves the points to the GPU once)
        sync()
        t0 = time.perf_counter()
        r = smp(proc, grid, score, x0, noise())
        sync()
        t = time.perf_counter() - t0
        ok = r.ok and bool(torch.isfinite(r.samples).all())
        sampling[label] = dict(
            seconds=t,
            steps=STEPS,
            particle_steps_per_s=m * STEPS / t,
            score_share_tflops=2 * flop_mm * STEPS / t / 1e12,
            ratio_vs_matmul=2 * res["matmul_float64_s"] * STEPS / t,
            ok=ok,
        )
        print(
            label,
            {k: (round(v, 3) if isinstance(v, float) else v) for k, v in sampling[label].items()},
            flush=True,
        )
        res["sampling"] = sampling
        save()
    # the CPU noise alone: what the shipped path pays per step
    g = torch.Generator().manual_seed(2)
    t = timed(lambda: torch.randn(m, d, generator=g, dtype=torch.float64).to(dev), reps=3)
    res["cpu_noise_per_step_s"] = t
    print(f"CPU noise + copy per step: {t * 1e3:.1f} ms", flush=True)
    del pts, x, score
    (None if DRY else torch.cuda.empty_cache())
    save()

    # --- the CLI path ------------------------------------------------------------------------------
    try:
        import ot  # noqa: F401

        cmd = [
            sys.executable,
            "-m",
            "sgmbench",
            "measure",
            "--device",
            str(dev),
            "--target",
            f"gaussian:dim={d}",
            "--score",
            f"empirical-optimal:num_train={n}",
            "--samples",
            str(m),
            "--steps",
            str(STEPS),
            "--metrics",
            "sliced_w2",
            "--json",
        ]
        t0 = time.perf_counter()
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=400)
        res["cli"] = dict(
            command=" ".join(cmd[1:]),
            seconds=time.perf_counter() - t0,
            rc=p.returncode,
            stdout_tail=p.stdout[-600:],
            stderr_tail=p.stderr[-600:],
        )
    except ImportError as exc:
        res["cli"] = dict(skipped=f"POT not importable: {exc}")
    print("cli", res["cli"], flush=True)
    save()
    write_markdown(res, out / "gpu.md")
    print(json.dumps(res, default=str)[:3000])
    return 0


def write_markdown(res: dict, path: Path) -> None:
    """``gpu.md``: device, versions, the kernel and sampler numbers with their ratio to the matmul."""
    k = res.get("kernel", {})
    lines = [
        "# GPU: empirical optimal score and sampler on CUDA",
        "",
        f"Device {res.get('device')} (compute capability {res.get('capability')}, {res.get('sms')} SMs, "
        f"{res.get('memory_gib')} GiB), torch {res.get('torch')}, CUDA {res.get('cuda')}; TF32 matmul "
        f"{'on' if res.get('tf32_matmul') else 'off'} (torch's default). n = {N_TRAIN} training points, "
        f"d = {DIM}, m = {QUERIES} queries/particles. Measured by `benchmarks/perf/gpu_empirical.py`.",
        "",
        "Baseline: the same GPU's `torch.matmul` of [m, d] x [d, n] in the same run: "
        f"float64 {res.get('matmul_float64_tflops', float('nan')):.1f} TFLOP/s, "
        f"float32 {res.get('matmul_float32_tflops', float('nan')):.1f} TFLOP/s. "
        "Kernel FLOP/s count its two GEMMs (4mnd); ratio = kernel FLOP/s / matmul FLOP/s (goal >= 0.5).",
        "",
        "| kernel | seconds | TFLOP/s | ratio vs matmul | peak extra GPU memory (MiB) "
        "| one dense [m, n] (MiB) |",
        "|---|---|---|---|---|---|",
    ]
    for key, v in k.items():
        peak = v.get("peak_extra_mib")
        dense = v.get("dense_mn_mib")
        lines.append(
            f"| {key} | {v['seconds']:.3f} | {v['tflops']:.1f} | {v['ratio_vs_matmul']:.2f} | "
            f"{'' if peak is None else f'{peak:.0f}'} | {'' if dense is None else f'{dense:.0f}'} |"
        )
    lines += [
        "",
        "float32 vs float64 posterior mean, relative error: "
        f"{res.get('float32_rel_err_mean', float('nan')):.1e}.",
        "",
        f"Sampler end to end ({STEPS} steps, vp-linear; "
        "ratio = score FLOP/s over the run vs float64 matmul):",
        "",
        "| sampler | seconds | particle-steps/s | ratio vs matmul |",
        "|---|---|---|---|",
    ]
    for label, v in res.get("sampling", {}).items():
        lines.append(
            f"| {label} | {v['seconds']:.2f} | {v['particle_steps_per_s']:.3g} | {v['ratio_vs_matmul']:.2f} |"
        )
    cli = res.get("cli", {})
    lines += [
        "",
        f"CPU noise as shipped (float64 `torch.randn` [m, d] on the CPU generator + copy): "
        f"{res.get('cpu_noise_per_step_s', float('nan')) * 1e3:.0f} ms per step.",
        "",
        f"CLI: `python {cli.get('command', '')}`: {cli.get('seconds', float('nan')):.1f} s wall, exit code "
        f"{cli.get('rc')} (training set drawn on the CPU in "
        f"{res.get('training_set_draw_s', float('nan')):.1f} s)."
        if "seconds" in cli
        else f"CLI: {cli.get('skipped', 'not run')}",
        "",
    ]
    path.write_text("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("OUT", "."))))
