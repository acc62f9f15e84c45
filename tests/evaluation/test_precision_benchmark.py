"""benchmarks/precision.py at its smallest on the CPU: both runs measured, deviation > 0."""

from __future__ import annotations

import json


def test_precision_benchmark_quick_cpu(load_benchmark, tmp_path, capsys):
    mod = load_benchmark("precision")
    out = tmp_path / "precision.json"
    assert mod.main(["--quick", "--model", "protein-residue-100ps", "--dtypes",
                     "float32,float16", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    full, half = res["runs"]["float32"], res["runs"]["float16"]
    for row in (full, half):
        assert row["steps"] == 3 and row["steps_per_s"] > 0
        assert 0.5 < row["rg_mean_nm"] < 1.5 and 0.3 < row["bond_mean_nm"] < 0.8
    dev = half["one_step_deviation"]
    assert 0 < dev["rms_nm"] <= dev["max_nm"] < 0.05  # rounding, not a different step
    assert "one_step_deviation" not in full
    assert "| float16 |" in capsys.readouterr().out
