"""benchmarks/stability.py on the shipped test polymer set with a tiny untrained model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
POLYMER = ROOT / "tests" / "data" / "polymer"


def test_stability_benchmark_runs_each_ladder(load_benchmark, tmp_path, capsys):
    from openmm_cgml.datasets import WindowDataset, compute_statistics
    from openmm_cgml.models import CGModel, ModelConfig, save_checkpoint

    cfg = ModelConfig(hidden=16, layers=1, score_layers=1, embed_layers=1, history_length=3,
                      noise_levels=3, refine_levels=1, refine_steps=1, num_rbf=4)
    stats = compute_statistics(WindowDataset(POLYMER, history_length=3))
    ckpt = save_checkpoint(CGModel(cfg, stats), tmp_path / "ckpt")
    out = tmp_path / "stab.json"
    mod = load_benchmark("stability")
    rc = mod.main([str(ckpt), str(POLYMER), "--steps", "4", "--replicas", "1",
                   "--ladders", "none,model,0.5x2x1,ddim:0.5x2", "--json", str(out)])
    assert rc == 0
    res = json.loads(out.read_text())
    assert set(res["ladders"]) == {"none", "model", "0.5x2x1", "ddim:0.5x2"}
    assert res["molecules"] == ["poly_0010", "poly_0011"]  # the test split
    for row in res["ladders"].values():
        assert row["rollouts"] == 2 and 0 <= row["min_steps"] <= row["median_steps"] <= 4
    assert res["ladders"]["ddim:0.5x2"]["overrides"]["sampler"] == "ddim"
    assert res["ladders"]["0.5x2x1"]["overrides"]["sigmas"] == pytest.approx([0.5, cfg.sigma_min])
    e = res["one_step_rms_nm"]
    assert e["stay"] > 0 and e["constant_velocity"] > 0 and e["model_mean"] > 0
    assert "median steps" in capsys.readouterr().out
    for bad in ("wide", "euler:0.5x2", "0.5x2x1x1"):
        with pytest.raises(SystemExit, match=r"\[SAMPLER:\]TOPxLEVELS\[xSTEPS\]"):
            mod.ladder_overrides(bad, 0.01)
