"""benchmarks/speed.py at its smallest on the CPU: the table's figures are measured and saved."""

from __future__ import annotations

import json


def test_speed_benchmark_smallest_cpu(load_benchmark, tmp_path, capsys):
    mod = load_benchmark("speed")
    out = tmp_path / "speed.json"
    rc = mod.main(["--skip-allatom", "--sizes", "10", "--replicas", "2", "--budget", "0.2",
                   "--min-steps", "2", "--model", "protein-residue-100ps", "--refine-levels", "1",
                   "--replica-graph", "radius", "--json", str(out)])
    assert rc == 0
    res = json.loads(out.read_text())
    assert res["noise_draws"] == 2  # one dynamics draw + one refinement level
    (row,) = res["replica_scaling"]
    assert row["replicas"] == 2 and row["beads"] == 70 and row["ms_per_step"] > 0
    assert row["static_graph"] is False and row["pairs_per_call"] is None
    o = res["overhead"]
    assert o["plugin_ms"] > 0 and o["bare_module_ms"] > 0 and o["bare_module_cuda_graph"] is False
    assert "Plugin overhead" in capsys.readouterr().out
