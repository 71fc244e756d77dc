"""The command line: the measure JSON contract, one-line errors (exit 2), run/report/list/compare."""

import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sgmbench.cli import main

REPO = Path(__file__).resolve().parent.parent
CONTRACT = [
    "measure",
    "--target",
    "gaussian:dim=10,mean=1,var=0.5",
    "--process",
    "vp-constant:beta=2",
    "--horizon",
    "8",
    "--sampler",
    "exponential-integrator",
    "--steps",
    "80",
    "--metrics",
    "w2,kl,kl_reverse,tv",
    "--json",
]


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_measure_contract_json_subprocess():
    """Exactly the documented command, as another tool would call it: one JSON object on stdout."""
    proc = subprocess.run(
        [sys.executable, "-m", "sgmbench", *CONTRACT], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("\n") == 1
    obj = json.loads(proc.stdout)
    assert set(obj) == {"setting", "metrics"}
    s = obj["setting"]
    assert s["target"] == "gaussian:dim=10,mean=1,var=0.5" and s["process"] == "vp-constant:beta=2"
    assert s["horizon"] == 8.0 and s["steps"] == 80 and s["sampler"] == "exponential-integrator"
    assert (
        s["grid"] == "uniform"
        and s["early_stop"] == 0.0
        and s["reference"] == "data"
        and s["score"] == "exact"
    )
    assert s["prior"] == "gaussian" and s["seed"] == 0 and s["device"] == "cpu" and s["dim"] == 10
    assert list(obj["metrics"]) == ["w2", "kl", "kl_reverse", "tv"]
    for name, rec in obj["metrics"].items():
        assert set(rec) == {"value", "exact", "stderr", "floor"}, name
        assert rec["exact"] is True and isinstance(rec["value"], float) and rec["value"] > 0
        assert rec["stderr"] in (0.0, None) and rec["floor"] in (0.0, None)
    assert obj["metrics"]["tv"]["value"] <= 1


def test_measure_resolves_horizon_and_matches_exact_law(capsys):
    from sgmbench.exact import exact_law, reference_law
    from sgmbench.metrics.gaussian import w2_diag
    from sgmbench.processes import get_process
    from sgmbench.setting import Setting

    code, out, _ = run_cli(
        capsys,
        "measure",
        "--target",
        "gaussian:dim=2,mean=1,var=0.5",
        "--process",
        "vp-linear",
        "--steps",
        "20",
        "--json",
    )
    assert code == 0
    obj = json.loads(out)
    assert obj["setting"]["horizon"] == get_process("vp-linear").default_horizon  # filled in from the process
    target, process, T = Setting(
        target="gaussian:dim=2,mean=1,var=0.5", process="vp-linear", steps=20
    ).resolve()
    from sgmbench.grids import make_grid

    law = exact_law(target, process, make_grid("uniform", process, T, 0.0, 20), "exponential-integrator")
    ref = reference_law(target, process, 0.0)
    assert obj["metrics"]["w2"]["value"] == pytest.approx(
        w2_diag(ref.mean, ref.var, law.mean, law.var), rel=1e-12
    )


def test_measure_readable_table(capsys):
    code, out, _ = run_cli(capsys, *[a for a in CONTRACT if a != "--json"])
    assert code == 0
    assert "metric" in out and "kl_reverse" in out and "horizon" in out


STORE_FILE = "corrupt.sqlite"


@pytest.mark.parametrize(
    "argv",
    [
        ["measure", "--process", "no-such-process"],
        ["measure", "--target", "gaussian:dim=abc=1"],
        ["measure", "--target", "gaussian:dim=0"],
        ["measure", "--target", "nope:dim=2"],
        ["measure", "--steps", "0"],
        ["measure", "--steps", "ten"],
        ["measure", "--horizon", "-1"],
        ["measure", "--horizon", "nan"],
        ["measure", "--early-stop", "100", "--process", "vp-linear"],
        ["measure", "--samples", "1"],
        ["measure", "--metrics", "w3"],
        ["measure", "--sampler", "rk45"],
        ["measure", "--score", "perturbed:kind=bias,size=-1"],
        ["measure", "--reference", "future"],
        ["measure", "--device", "tpu"],
        ["measure", "--bogus-flag"],
        ["list", "widgets"],
        ["run", "no-such-study", "--store", "{tmp}/s.sqlite"],
        ["run", "demo", "--workers", "-1", "--store", "{tmp}/s.sqlite"],
        ["run", "demo", "--profile", "paper", "--store", "{tmp}/s.sqlite"],
        ["run", "demo", "--store", "{tmp}/" + STORE_FILE],
        ["report", "--store", "{tmp}/" + STORE_FILE],
        ["report", "--store", "{tmp}/missing.sqlite"],
        ["compare", "--processes", "vp-linear,nope", "--steps", "4,8"],
        ["compare", "--processes", "vp-linear", "--samplers", "euler-maruyama"],
        ["compare", "--processes", "vp-linear", "--steps", "4,x"],
        [],
    ],
)
def test_bad_input_one_line_exit_2(capsys, tmp_path, argv):
    (tmp_path / STORE_FILE).write_bytes(b"SQLite format 3\x00" + b"\x13" * 500)
    before = (tmp_path / STORE_FILE).read_bytes()
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code, out, err = run_cli(capsys, *argv)
    assert code == 2, (argv, out, err)
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    assert (tmp_path / STORE_FILE).read_bytes() == before
    assert not (tmp_path / "missing.sqlite").exists()


def test_bad_input_subprocess_no_traceback(tmp_path):
    con = sqlite3.connect(tmp_path / "foreign.sqlite")
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    before = (tmp_path / "foreign.sqlite").read_bytes()
    proc = subprocess.run(
        [sys.executable, "-m", "sgmbench", "run", "demo", "--store", str(tmp_path / "foreign.sqlite")],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("error: refusing store") and proc.stderr.count("\n") == 1
    assert (tmp_path / "foreign.sqlite").read_bytes() == before


def test_list(capsys):
    code, out, _ = run_cli(capsys, "list", "processes")
    assert code == 0 and "vp-constant(beta=5.05)" in out and "source:" in out
    code, out, _ = run_cli(capsys, "list", "studies")
    assert code == 0 and "demo" in out
    code, out, _ = run_cli(capsys, "list", "--json")
    obj = json.loads(out)
    assert {"processes", "targets", "scores", "grids", "samplers", "studies"} <= set(obj)
    assert any(r["name"] == "gaussian" for r in obj["targets"])


def test_run_and_report(capsys, tmp_path, monkeypatch):
    studies = tmp_path / "studies"
    studies.mkdir()
    (studies / "cli_toy.py").write_text(
        textwrap.dedent(
            '''
        """CLI toy study."""
        from sgmbench.setting import Setting
        from sgmbench.study import Rate, Study
        STUDY = Study(axes={"process": ["vp-linear", "ou"], "steps": [4, 8]},
                      base=Setting(target="gaussian:dim=2,mean=1,var=0.5", prior="exact"),
                      metrics=("w2", "tv"), rates=(Rate("w2", "steps", predicted=-1.0),),
                      profiles={"quick": {}, "full": {"steps": [4, 8, 16]}})
        '''
        )
    )
    monkeypatch.setenv("SGMBENCH_STUDY_PATH", str(studies))
    store = str(tmp_path / "s.sqlite")
    code, out, err = run_cli(capsys, "run", "cli-toy", "--store", store, "--no-progress")
    assert code == 0, err
    assert "cli-toy (quick): 4 cells, 0 already stored, 4 ok, 0 failed" in err
    code, _, err = run_cli(capsys, "run", "cli_toy", "--profile", "full", "--store", store, "--no-progress")
    assert code == 0 and "6 cells, 4 already stored, 2 ok" in err
    code, _, err = run_cli(capsys, "report", "cli-toy", "--store", store, "--out", str(tmp_path / "results"))
    assert code == 0, err
    out_dir = tmp_path / "results" / "cli-toy"
    assert (out_dir / "results.csv").is_file() and (out_dir / "rates.md").is_file()
    assert (tmp_path / "results" / "SUMMARY.md").is_file()
    assert len((out_dir / "metrics.md").read_text().strip().splitlines()) == 2 + 6


def test_compare(capsys, tmp_path):
    code, out, err = run_cli(
        capsys,
        "compare",
        "--target",
        "gaussian:dim=4,mean=1,var=0.25",
        "--processes",
        "vp-linear,vp-constant:beta=2",
        "--sampler",
        "exponential-integrator",
        "--steps",
        "10,20,40",
        "--metric",
        "w2",
        "--prior",
        "exact",
        "--out",
        str(tmp_path / "cmp"),
    )
    assert code == 0, err
    assert "fitted rates" in out and "vp-constant:beta=2" in out
    for name in (
        "compare.csv",
        "table.md",
        "table.tex",
        "rates.csv",
        "w2_vs_steps.png",
        "w2_vs_steps.pdf",
        "config.json",
    ):
        assert (tmp_path / "cmp" / name).is_file(), name
    table = (tmp_path / "cmp" / "table.md").read_text().strip().splitlines()
    assert len(table) == 2 + 2 * 3
    code, out, err = run_cli(
        capsys,
        "compare",
        "--target",
        "gaussian:dim=2,mean=1,var=0.25",
        "--samplers",
        "euler-maruyama,pf-euler",
        "--process",
        "ou",
        "--steps",
        "8,16",
        "--out",
        str(tmp_path / "cmp2"),
        "--json",
    )
    assert code == 0, err
    obj = json.loads(out)
    assert len(obj["table"]) == 4 and {r["sampler"] for r in obj["rates"]} == {"euler-maruyama", "pf-euler"}
