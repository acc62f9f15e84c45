"""benchmarks/paper_polymer.py end to end (smallest settings): data, training, rollouts, table."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_paper_polymer_quick_smallest(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location(
        "paper_polymer", ROOT / "benchmarks" / "paper_polymer.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "res.json"
    rc = mod.main(
        [
            "--quick",
            "--work",
            str(tmp_path / "w"),
            "--train-steps",
            "3",
            "--steps",
            "10",
            "--replicas",
            "1",
            "--variants",
            "full,no_refinement",
            "--jobs",
            "2",
            "--fit-noise",
            "--output",
            str(out),
        ]
    )
    assert rc == 0
    res = json.loads(out.read_text())
    assert set(res["rows"]) == {"full", "no_refinement"}
    for row in res["rows"].values():
        assert row["rollouts"] == len(res["settings"]["test_chains"])
        assert row["speedup_single_chain"] > 0 and row["speedup_batched"] > 0
        assert Path(row["report"]).is_file()
        # per-chain values are kept, so that the scores can be re-analysed
        assert set(row["chains"]) == set(res["settings"]["test_chains"])
        for chain in row["chains"].values():
            assert chain["ref_tau_ps"] > 0 and chain["ref_tau_stderr_ps"] > 0
            assert chain["ref_rg_nm"] > 0
            # the CG side is None where a 3-step model left no usable frames
            assert {"cg_rg_nm", "cg_tau_ps", "cg_tau_stderr_ps", "cg_tau_converged"} < set(chain)
    assert res["reference_md"]["single_ps_per_s"] > 0
    # the new model's noise correlation was fitted on the training chains and stored
    config = json.loads((tmp_path / "w" / "models" / "full" / "final" / "config.json").read_text())
    fit = config["metadata"]["noise_correlation_fit"]
    assert config["model"]["noise_correlation"] == fit["lambda0"] > 0
    assert fit["split"] == "train" and fit["molecules"] == len(splits_of(tmp_path)["train"])
    # --jobs 2: each variant was evaluated in its own process
    assert {p.name for p in (tmp_path / "w" / "parts").glob("*.json")} == {
        "full.json",
        "no_refinement.json",
    }
    table = capsys.readouterr().out
    assert "r2 Rg" in table and "no_refinement" in table
    # the splits keep test compositions out of training
    splits = splits_of(tmp_path)
    assert set(res["settings"]["test_chains"]) == {Path(f).stem for f in splits["test"]}
    assert not set(splits["test"]) & set(splits["train"])


def splits_of(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "w" / "data" / "splits.json").read_text())


def test_paper_polymer_val_split_rolls_out_the_val_chains(tmp_path):
    """--split val: inference settings are chosen on chains that are neither trained on nor
    the test chains; the shipped polymer weights stand in for a trained ``full``."""
    import shutil

    spec = importlib.util.spec_from_file_location(
        "paper_polymer", ROOT / "benchmarks" / "paper_polymer.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    work = tmp_path / "w"
    shutil.copytree(
        ROOT / "openmm_cgml" / "pretrained" / "polymer-comb", work / "models" / "full" / "final"
    )
    data = ROOT / "tests" / "data" / "polymer"
    out = tmp_path / "val.json"
    rc = mod.main(
        ["--data", str(data), "--work", str(work), "--split", "val", "--device", "cpu",
         "--variants", "ancestral_widen_0.3,independent_noise", "--steps", "3", "--replicas", "1",
         "--record-interval", "1", "--no-speed", "--output", str(out)]
    )  # fmt: skip
    assert rc == 0
    res = json.loads(out.read_text())
    splits = json.loads((data / "splits.json").read_text())
    assert res["settings"]["split"] == "val"
    assert res["settings"]["test_chains"] == sorted(Path(f).stem for f in splits["val"])
    row = res["rows"]["ancestral_widen_0.3"]
    assert row["rollouts"] == len(splits["val"])
    assert Path(row["report"]).is_file() and "eval_val" in row["report"]
    assert res["rows"]["independent_noise"]["rollouts"] == len(splits["val"])
