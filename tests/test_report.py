"""A study end to end on a tiny grid: store rows, then the report's files with the expected rows."""

import json

import numpy as np
import pandas as pd
import pytest

from sgmbench.errors import SgmbenchError
from sgmbench.report import fit_loglog, report, to_markdown, wide_table
from sgmbench.runner import run_study
from sgmbench.setting import Setting
from sgmbench.store import Store
from sgmbench.study import Figure, Rate, Study, Table

STEPS = [8, 16, 32]
TINY = Study(
    name="tiny",
    axes={
        "process": ["vp-constant:beta=2", "vp-linear"],
        "steps": STEPS,
    },
    base=Setting(target="gaussian:dim=3,mean=1,var=0.5", prior="exact"),
    metrics=("w2", "kl"),
    bounds=("gnz2025-w2", "conforti2025-kl", "chen2023-thm2"),
    rates=(Rate("w2", "steps", predicted=-1.0), Rate("kl", "steps", predicted=-2.0)),
    tables=(Table("metrics", index=("process", "steps")),),
    figures=(Figure("w2_vs_steps", metric="w2", x="steps", hue="process"),),
)


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    failing = Study(
        name="broken",
        axes={("steps", "fail"): [(4, ""), (8, "estimator error: singular covariance")]},
        metrics=("w2",),
        cell_fn="sgmbench.study:synthetic_cell",
    )
    with Store(tmp / "s.sqlite") as store:
        summary = run_study(TINY, store, progress=False)
        run_study(failing, store, progress=False)
        reports, summary_path = report(store, None, tmp / "results")
        rows = store.rows("tiny")
    return tmp, summary, {r.study: r for r in reports}, summary_path, rows


def test_store_has_one_ok_row_per_cell(reported):
    _, summary, _, _, rows = reported
    assert (summary.planned, summary.ok, summary.failed) == (6, 6, 0)
    assert len(rows) == 6 and all(r["status"] == "ok" for r in rows)
    for r in rows:  # exact path: the law is computed, not sampled
        for m in ("w2", "kl"):
            rec = r["outcome"]["metrics"][m]
            assert rec["exact"] is True and rec["stderr"] == 0.0 and rec["value"] > 0
        assert r["outcome"]["setting"]["horizon"] > 0  # resolved horizon is stored


def test_report_files(reported):
    tmp, _, reports, summary_path, rows = reported
    out = tmp / "results" / "tiny"
    for name in (
        "results.csv",
        "metrics.csv",
        "metrics.md",
        "metrics.tex",
        "rates.csv",
        "rates.md",
        "w2_vs_steps.png",
        "w2_vs_steps.pdf",
        "config.json",
    ):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    long = pd.read_csv(out / "results.csv")
    assert len(long) == 6 * 2 and set(long["metric"]) == {"w2", "kl"}
    assert long.groupby(["cell_key", "metric"]).size().max() == 1
    wide = pd.read_csv(out / "metrics.csv")
    assert list(wide.columns) == ["process", "steps", "w2", "kl"] and len(wide) == 6
    md = (out / "metrics.md").read_text().strip().splitlines()
    assert len(md) == 2 + 6 and md[0].startswith("| process | steps | w2 | kl |")
    assert "\\begin{tabular}" in (out / "metrics.tex").read_text()
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["config"]["study"] == "tiny" and cfg["config"]["profile"] == "quick"
    assert {c["cell_key"]: c["seed"] for c in cfg["cells"]} == {r["cell_key"]: r["seed"] for r in rows}
    assert all(c["cell"]["setting"]["seed"] == c["seed"] for c in cfg["cells"])


def test_rates_fitted_and_summary(reported):
    tmp, _, reports, summary_path, _ = reported
    fits = reports["tiny"].rates
    assert len(fits) == 2 * 2  # (w2, kl) x two processes
    for f in fits.itertuples():
        assert abs(f.slope - f.predicted) < 0.25, (f.metric, f.process, f.slope)
    text = summary_path.read_text()
    assert "| tiny | w2 | steps | vp-linear |" in text and "| broken |" in text
    assert "Fitted vs predicted exponents" in text and "Bound verdicts" in text


def test_bounds_evaluated_in_cells_and_verdicts(reported):
    tmp, _, reports, summary_path, rows = reported
    for r in rows:  # each cell evaluated its bounds beside the measured metrics
        names = {b["bound"] for b in r["outcome"]["bounds"]}
        assert names == {"gnz2025-w2", "conforti2025-kl", "chen2023-thm2"}
        for b in r["outcome"]["bounds"]:
            if b["applicable"] and b["measured"] is not None:
                assert b["holds"] == (b["measured"] <= b["value"])
    out = tmp / "results" / "tiny"
    pairs = pd.read_csv(out / "bounds.csv")
    assert len(pairs) == 6 * 3 and {"bound", "bound_value", "measured", "holds", "ratio"} <= set(
        pairs.columns
    )
    verdicts = pd.read_csv(out / "bound_verdicts.csv")
    assert set(verdicts["bound"]) == {"gnz2025-w2", "conforti2025-kl", "chen2023-thm2"}
    # chen2023-thm2 bounds TV, which this study does not measure: applicable but never compared
    chen = verdicts.set_index("bound").loc["chen2023-thm2"]
    assert chen["holds everywhere"] == "—"
    gnz = verdicts.set_index("bound").loc["gnz2025-w2"]
    assert gnz["holds everywhere"] == "yes" and gnz["exponent in steps: predicted"] == -0.5
    brates = pd.read_csv(out / "bound_rates.csv")
    assert set(brates["rate"]) <= {"tight", "loose", "violated", "undetermined"}
    text = summary_path.read_text()
    assert "| tiny | gnz2025-w2 |" in text
    assert (out / "measured_vs_bound.png").is_file()


def test_failed_cells_reported(reported):
    tmp, _, reports, _, _ = reported
    assert reports["broken"].failed == 1 and reports["broken"].cells == 2
    failed = (tmp / "results" / "broken" / "failed.md").read_text()
    assert "estimator error: singular covariance" in failed
    long = pd.read_csv(tmp / "results" / "broken" / "results.csv")
    assert long.loc[long["status"] == "failed", "value"].isna().all()


def test_figures_split_by_undrawn_axes(tmp_path):
    """An axis that varies but is not drawn gives one figure per value, never an average over it."""
    s = Study(
        name="split",
        axes={"process": ["vp-linear", "ou"], "steps": [4, 8, 16], "dim": [2, 3], "seed": [0, 1]},
        metrics=("w2",),
        rates=(Rate("w2", "steps", predicted=-1.0),),
        figures=(Figure("w2_vs_steps", metric="w2", x="steps", hue="process"),),
        cell_fn="sgmbench.study:synthetic_cell",
    )
    with Store(tmp_path / "s.sqlite") as store:
        run_study(s, store, progress=False)
        (rep,), _ = report(store, ["split"], tmp_path / "results")
    names = sorted(p.name for p in rep.files if p.suffix == ".png")
    assert names == ["w2_vs_steps_dim=2.png", "w2_vs_steps_dim=3.png"]
    assert len(rep.rates) == 2 * 2  # one fit per (process, dim), replicates pooled per fit
    assert set(rep.rates["method"]) == {"per-replicate"}
    assert all(abs(sl + 1) < 0.05 for sl in rep.rates["slope"])


def extra_report(store, directory):
    """A study's own report hook (used by the test below)."""
    n = store.count("hooked")
    path = directory / "extra.md"
    path.write_text(f"{n} cells\n")
    return [path]


def broken_report(store, directory):
    raise RuntimeError("boom")


@pytest.mark.parametrize("hook", [extra_report, broken_report])
def test_study_report_fn(tmp_path, hook):
    s = Study(name="hooked", axes={"steps": [4, 8]}, cell_fn="sgmbench.study:synthetic_cell", report_fn=hook)
    with Store(tmp_path / "s.sqlite") as store:
        run_study(s, store, progress=False)
        (rep,), _ = report(store, ["hooked"], tmp_path / "results")
    extra = tmp_path / "results" / "hooked" / "extra.md"
    if hook is extra_report:
        assert extra in rep.files and extra.read_text() == "2 cells\n" and not rep.warnings
    else:  # a failing hook is a warning; the generic report is still written
        assert rep.warnings and "boom" in rep.warnings[0]
        assert (tmp_path / "results" / "hooked" / "results.csv").is_file()


def test_bad_declarations_are_one_line_errors(tmp_path):
    s = Study(
        name="bad",
        axes={"steps": [4, 8]},
        figures=(Figure("f", metric="w2", x="steps", hue="nope"),),
        cell_fn="sgmbench.study:synthetic_cell",
    )
    with Store(tmp_path / "s.sqlite") as store:
        run_study(s, store, progress=False)
        with pytest.raises(SgmbenchError, match="no column 'nope'"):
            report(store, ["bad"], tmp_path / "results")


def test_wide_table_averages_replicates():
    df = pd.DataFrame(
        {
            "status": ["ok"] * 4,
            "metric": ["w2"] * 4,
            "steps": [1, 1, 2, 2],
            "replicate": [0, 1, 0, 1],
            "value": [1.0, 3.0, 2.0, 2.0],
            "stderr": [0.1] * 4,
            "exact": [False] * 4,
        }
    )
    wide = wide_table(df, ["steps"])
    assert list(wide["w2"]) == ["2 ± 1", "2"]  # stderr across replicates: std/sqrt(n)
    assert to_markdown(wide).count("\n") == 4


def test_fit_loglog_recovers_slope():
    x = np.array([10, 20, 40, 80.0])
    fit = fit_loglog(x, 3 * x**-1.5)
    assert fit["slope"] == pytest.approx(-1.5) and fit["n"] == 4
    assert np.isnan(fit_loglog([1.0], [1.0])["slope"])
