"""benchmarks/paper_polymer.py end to end (smallest settings): data, training, rollouts, table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_paper_polymer_quick_smallest(load_benchmark, tmp_path, capsys):
    mod = load_benchmark("paper_polymer")
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
        assert row["cg_speed"]["single_cuda_graph"] is False  # CPU: ordinary calls
        assert Path(row["report"]).is_file()
        # the strict stability is at most each of its two parts
        assert row["stable_fraction"] <= min(row["blowup_free_fraction"],
                                             row["collision_free_fraction"])
        # the survival's last mark is the runs' length: the strict figure again
        assert list(row["stable_fraction_by_steps"].values())[-1] == row["stable_fraction"]
        for key in ("close_contact_fraction", "stretched_bond_fraction"):
            cc = row[key]  # None only if no chain left a frame
            assert cc is None or 0.0 <= cc <= 1.0
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
    assert "r2 Rg" in table and "no_refinement" in table and "close" in table
    # the splits keep test compositions out of training
    splits = splits_of(tmp_path)
    assert set(res["settings"]["test_chains"]) == {Path(f).stem for f in splits["test"]}
    assert not set(splits["test"]) & set(splits["train"])


def splits_of(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "w" / "data" / "splits.json").read_text())


def test_paper_polymer_val_split_rolls_out_the_val_chains(load_benchmark, tmp_path):
    """--split val: inference settings are chosen on chains that are neither trained on nor
    the test chains; the shipped polymer weights stand in for a trained ``full``."""
    import shutil

    mod = load_benchmark("paper_polymer")
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


def test_paper_polymer_compares_with_a_separate_reference_set(load_benchmark, tmp_path):
    """--reference: long independent runs of the test chains (``cgml generate polymer --only
    test --copies N``) are the reference, the copies pooled per chain; a set of other
    compositions is refused with a message naming the chain."""
    import shutil

    from openmm_cgml.reference.polymer import generate_polymer_dataset

    mod = load_benchmark("paper_polymer")
    data = ROOT / "tests" / "data" / "polymer"
    long = tmp_path / "long"
    # the compositions of tests/data/polymer: 12 chains, split seed 0, L 20-40
    generate_polymer_dataset(long, 12, split_seed=0, seed=3, production_tau=40.0,
                             stride_tau=5.0, equilibration_tau=10.0, min_length=20,
                             max_length=40, only="test", copies=2, platform="CPU",
                             progress=False)  # fmt: skip
    work = tmp_path / "w"
    shutil.copytree(
        ROOT / "openmm_cgml" / "pretrained" / "polymer-comb-equivariant",
        work / "models" / "equivariant_k2" / "final",
    )
    out = tmp_path / "res.json"
    rc = mod.main(
        ["--data", str(data), "--reference", str(long), "--work", str(work), "--device", "cpu",
         "--variants", "equivariant_k2", "--steps", "3", "--replicas", "1", "--no-speed",
         "--output", str(out)]
    )  # fmt: skip
    assert rc == 0
    res = json.loads(out.read_text())
    assert res["settings"]["reference"] == str(long)
    info = res["reference_md"]
    assert info["runs_per_chain"] == 2
    assert info["min_total_length_in_tau"] > info["min_length_in_tau"] > 0
    assert res["settings"]["test_chains"] == ["poly_0010", "poly_0011"]
    chain = res["rows"]["equivariant_k2"]["chains"]["poly_0010"]
    # the reference figures come from the two 40 tau copies, not the 100-frame training run
    assert chain["ref_tau_ps"] > 0
    ref = mod.load_trajectories(mod.resolve_files(long, "test"))["poly_0010"]
    assert len(ref.runs) == 2 and all(len(r) == 8 for r in ref.runs)
    from openmm_cgml.analysis import radius_of_gyration

    rg = radius_of_gyration(np.concatenate(ref.runs), ref.masses)
    assert chain["ref_rg_nm"] == pytest.approx(float(np.mean(rg)), rel=1e-6)
    # a reference set of other compositions (another split seed) is refused
    other = tmp_path / "other"
    other.mkdir()
    doc = json.loads((long / "splits.json").read_text())
    doc["compositions"]["poly_0010.h5"]["sides"] = "A" * 5
    (other / "splits.json").write_text(json.dumps(doc))
    with pytest.raises(SystemExit, match="poly_0010.*not the poly_0010"):
        mod.check_reference_set(data, other, "test")


@pytest.mark.gpu
def test_paper_polymer_cg_speed_replays_a_cuda_graph(load_benchmark):
    """On CUDA the CG speed is timed the way cgml simulate runs the step: a replayed CUDA
    graph (static pairs), which must not be slower than ordinary calls of the same module."""
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    mod = load_benchmark("paper_polymer")
    from openmm_cgml.models import load_checkpoint

    data = ROOT / "tests" / "data" / "polymer"
    reference = mod.load_trajectories(mod.resolve_files(data, "test"))
    names = sorted(reference)
    model = load_checkpoint(ROOT / "openmm_cgml" / "pretrained" / "polymer-comb-equivariant",
                            map_location="cuda")  # fmt: skip
    graphed = mod.cg_speed(model, reference, names, 50, "cuda", {})
    assert graphed["single_cuda_graph"] and graphed["batched_cuda_graph"]
    plain = mod.cg_speed(model, reference, names, 50, "cuda", {"static_graph": False})
    assert not plain["single_cuda_graph"]
    assert graphed["single_ms_per_step"] < 1.2 * plain["single_ms_per_step"]


def test_paper_polymer_pauses_and_continues_its_rollouts(load_benchmark, tmp_path, capsys):
    """--max-wall: the rollouts pause (their state kept under WORK, the JSON lists the paused
    variants); the same command continues them; a third run reuses the finished rollouts;
    the row equals that of an uninterrupted run."""
    import shutil

    mod = load_benchmark("paper_polymer")
    data = ROOT / "tests" / "data" / "polymer"

    def run(work: Path, *extra: str) -> dict:
        if not (work / "models").exists():
            shutil.copytree(
                ROOT / "openmm_cgml" / "pretrained" / "polymer-comb-equivariant",
                work / "models" / "equivariant_k2" / "final",
            )
        out = work / "res.json"
        rc = mod.main(
            ["--data", str(data), "--work", str(work), "--device", "cpu", "--variants",
             "equivariant_k2", "--steps", "4", "--replicas", "1", "--no-speed", "--output",
             str(out), *extra]
        )  # fmt: skip
        assert rc == 0
        return json.loads(out.read_text())

    whole = run(tmp_path / "a")
    first = run(tmp_path / "b", "--max-wall", "1e-9")
    assert first["paused"] == ["equivariant_k2"] and first["rows"] == {}
    assert "paused (--max-wall): equivariant_k2" in capsys.readouterr().out
    states = list((tmp_path / "b" / "eval" / "equivariant_k2").glob("rollout_state_*.pt"))
    assert len(states) == 1
    # the state is bound to the weights and the resolved config, not config.json's metadata:
    # an edited note there continues the paused rollouts instead of starting a new state file
    cfg = tmp_path / "b" / "models" / "equivariant_k2" / "final" / "config.json"
    doc = json.loads(cfg.read_text())
    doc["metadata"]["note"] = "edited while paused"
    cfg.write_text(json.dumps(doc))
    second = run(tmp_path / "b")
    assert second["paused"] == []
    for key in ("rg_r2", "rg_mae_nm", "stable_fraction", "collision_rate"):
        assert second["rows"]["equivariant_k2"][key] == whole["rows"]["equivariant_k2"][key]
    # finished rollouts are read back, not run again: same figures, no new state file
    third = run(tmp_path / "b")
    assert third["rows"]["equivariant_k2"]["rg_r2"] == second["rows"]["equivariant_k2"]["rg_r2"]
    # (the wall time inside the step module is the stored one: nothing was stepped again)
    assert (third["rows"]["equivariant_k2"]["rollout_wall_s"]
            == second["rows"]["equivariant_k2"]["rollout_wall_s"])  # fmt: skip
    assert list((tmp_path / "b" / "eval" / "equivariant_k2").glob("rollout_state_*.pt")) == states
