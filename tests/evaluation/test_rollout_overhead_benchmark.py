"""benchmarks/rollout_overhead.py on the CPU: the split of a batched rollout step is measured,
and the collision check is timed (and cross-checked) against the dense search."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_rollout_overhead_benchmark_smallest_cpu(load_benchmark, tmp_path, capsys):
    mod = load_benchmark("rollout_overhead")
    out = tmp_path / "overhead.json"
    rc = mod.main(["--data", str(ROOT / "tests" / "data" / "polymer"), "--split", "test",
                   "--replicas", "2", "--steps", "3", "--output", str(out)])
    assert rc == 0
    res = json.loads(out.read_text())
    assert res["units"] == 4 and res["steps"] == 3
    # the timers saw the noise draws and the checks, and the module time is part of the total
    assert res["noise_ms_per_step"] > 0 and res["check_ms_per_step"] > 0
    assert 0 < res["module_ms_per_step"] <= res["total_ms_per_step"]
    assert res["dense_check_ms_per_step"] > 0
    assert "k-d tree" in capsys.readouterr().out
    # the timers are removed afterwards
    from openmm_cgml import analysis as A
    from openmm_cgml.simulation import NoiseStream

    assert A.colliding_beads.__name__ == "colliding_beads"
    assert NoiseStream.draw.__name__ == "draw"
