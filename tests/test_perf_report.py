import json

import numpy as np
import pytest

from sgmbench.errors import SgmbenchError
from sgmbench.perf_report import fit_cost_exponent, load_benchmarks, write_report


def test_fit_cost_exponent_recovers_power_law():
    n = np.array([100, 200, 400, 800, 1600])
    k, se = fit_cost_exponent(n, 3e-6 * n**1.5)
    assert abs(k - 1.5) < 1e-9 and se < 1e-9


def test_report_from_benchmark_json(tmp_path):
    benches = [
        {
            "group": "knn",
            "name": f"knn[{n}]",
            "stats": {"median": 1e-6 * n, "mean": 1e-6 * n, "stddev": 0, "rounds": 3},
            "extra_info": {"size": n},
        }
        for n in (1000, 2000, 4000)
    ]
    benches.append(
        {
            "group": "w2",
            "name": "emd",
            "stats": {"median": 0.5, "mean": 0.5, "stddev": 0, "rounds": 3},
            "extra_info": {"ratio": 1.05, "goal": "<= 1.2", "met": True},
        }
    )
    path = tmp_path / "b.json"
    path.write_text(json.dumps({"benchmarks": benches, "machine_info": {"node": "x"}}))
    md = write_report(load_benchmarks(path), tmp_path / "out").read_text()
    assert "| w2 | emd | 500 ms | 1.05 |" in md
    assert "| knn | 1.00 |" in md
    assert (tmp_path / "out" / "knn.png").exists()


def test_corrupt_benchmark_file(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    with pytest.raises(SgmbenchError):
        load_benchmarks(path)
