"""Evaluation stage (b): replica rollouts through the export + simulation layers, end to end.

Reference data: a tiny polymer set from ``openmm_cgml.reference.polymer`` (real OpenMM MD).
Models: the analytic ``HarmonicLangevinModel`` (export layer) and an untrained ``CGModel``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from openmm_cgml.evaluation import (
    EvaluationSettings,
    initial_histories,
    load_trajectories,
    replica_seeds,
    resolve_files,
    rollout_molecules,
    run_evaluation,
    run_replicas,
)


@pytest.fixture(scope="module")
def polymer_dir(tmp_path_factory):
    from openmm_cgml.reference.polymer import generate_polymer_dataset

    out = tmp_path_factory.mktemp("poly")
    generate_polymer_dataset(
        out,
        n_chains=3,
        production_tau=150,
        stride_tau=5,
        equilibration_tau=20,
        min_length=10,
        max_length=14,
        progress=False,
        platform="CPU",
        seed=1,
        deterministic=True,  # one thread: the same frames every run (the untrained-model test
        # below is sensitive to them; two threads gave other frames, and its rollouts blew up)
    )
    return out


class DriftModule(torch.nn.Module):
    """Step module x' = x + scale * noise[0] (+ NaN where a replica's noise exceeds a limit)."""

    def __init__(self, n: int, k: int = 2, scale: float = 0.01, nan_above: float = 1e9):
        super().__init__()
        self.history_length, self.noise_draws, self.timestep_ps = k, 1, 1.0
        self.num_particles = n
        self.scale, self.nan_above = scale, nan_above

    def forward(self, history, noise, external_force, box):
        out = history[-1] + self.scale * noise[0]
        return torch.where(noise[0].abs() > self.nan_above, torch.nan, out)


def _hist(n_rep, n=5, k=2):
    x = np.stack([np.arange(n) * 0.5, np.zeros(n), np.zeros(n)], axis=1)
    return [np.repeat(x[None], k, axis=0) for _ in range(n_rep)]


def test_replicas_reproducible_independent_of_chunking_and_batching():
    bonds = np.array([[i, i + 1] for i in range(4)])
    kw = dict(bonds=bonds, record_interval=3)
    a = run_replicas(lambda c: DriftModule(5 * c), _hist(3), 40, [1, 2, 3], chunk_steps=7, **kw)
    b = run_replicas(lambda c: DriftModule(5 * c), _hist(3), 40, [1, 2, 3], chunk_steps=40, **kw)
    c = run_replicas(
        lambda c: DriftModule(5 * c), _hist(3), 40, [1, 2, 3], batch_replicas=False, **kw
    )
    for fa, fb, fc in zip(a.frames, b.frames, c.frames, strict=True):
        assert fa.shape == (1 + 40 // 3, 5, 3)
        np.testing.assert_allclose(fa, fb, atol=1e-6)
        np.testing.assert_allclose(fa, fc, atol=1e-6)
    assert not np.allclose(a.frames[0], a.frames[1])  # replicas differ
    assert all(s["stable"] and s["steps_completed"] == 40 for s in a.stability)
    assert a.model_steps == 120 and a.ns_per_day > 0


def test_nan_replica_is_retired_and_others_continue():
    # NaN whenever a replica draws |noise| > 3.3: over 200 steps x 15 numbers most replicas
    # hit it at some point, at different steps
    res = run_replicas(
        lambda c: DriftModule(5 * c, nan_above=3.3),
        _hist(4),
        200,
        replica_seeds(0, 0, 4),
        chunk_steps=20,
    )
    reasons = {s["reason"] for s in res.stability}
    assert "non-finite" in reasons
    for f, s in zip(res.frames, res.stability, strict=True):
        assert np.isfinite(f).all()
        if s["reason"] == "non-finite":
            assert s["blowup_step"] > 0 and len(f) - 1 == s["steps_completed"] < 200
        else:
            assert len(f) == 201
    # the survivors are exactly what they would be alone
    alone = run_replicas(
        lambda c: DriftModule(5 * c, nan_above=3.3),
        _hist(4),
        200,
        replica_seeds(0, 0, 4),
        chunk_steps=20,
        batch_replicas=False,
    )
    for f1, f2 in zip(res.frames, alone.frames, strict=True):
        np.testing.assert_allclose(f1, f2, atol=1e-6)


def test_collisions_and_bond_blowup_detected():
    # beads 0 and 4 start 0.05 nm apart (non-bonded): collision from step 1
    h = _hist(1)
    h[0][:, 4] = h[0][:, 0] + [0.05, 0, 0]
    bonds = np.array([[0, 1], [1, 2], [2, 3]])
    res = run_replicas(lambda c: DriftModule(5 * c, scale=1e-4), h, 10, [5], bonds=bonds)
    st = res.stability[0]
    assert not st["stable"] and st["first_collision_step"] == 1 and st["reason"] == "collision"
    assert st["collided_bead_steps"] == 20 and st["steps_completed"] == 10
    # huge noise stretches bonds: blow-up stops the replica
    res = run_replicas(
        lambda c: DriftModule(5 * c, scale=5.0), _hist(1), 50, [5], bonds=bonds, max_bond_nm=3.0
    )
    st = res.stability[0]
    assert st["reason"] == "blow-up" and st["steps_completed"] < 50


class ShiftModule(DriftModule):
    """DriftModule that also moves the last bead of chosen 5-bead units by -``shift`` nm in x
    per step (towards the chain's first beads: a collision at a known step)."""

    def __init__(self, shifts: list[float], **kw):
        super().__init__(5 * len(shifts), scale=1e-4, **kw)
        move = torch.zeros(5 * len(shifts), 3)
        for u, d in enumerate(shifts):
            move[5 * u + 4, 0] = -d
        self.register_buffer("move", move)

    def forward(self, history, noise, external_force, box):
        return super().forward(history, noise, external_force, box) + self.move


def test_stop_on_collision_ends_a_unit_at_its_first_collision_only():
    """Bead 4 of unit 0 moves 0.13 nm per step from x = 2.0 nm: it is 0.09 nm from bead 2
    (x = 1.0, not bonded to it) at step 7, in the second chunk of 5 steps. With
    ``stop_on_collision`` unit 0 ends there; unit 1 runs on as it would alone."""
    from openmm_cgml.evaluation.rollouts import run_units

    bonds = [np.array([[i, i + 1] for i in range(4)])] * 2
    shifts = [0.13, 0.0]

    def factory(ids):
        return ShiftModule([shifts[i] for i in ids])

    kw = dict(bonds=bonds, chunk_steps=5)
    whole = run_units(factory, _hist(2), 20, [3, 4], **kw)
    stop = run_units(factory, _hist(2), 20, [3, 4], stop_on_collision=True, **kw)
    a, b = whole.stability[0], stop.stability[0]
    assert a["first_collision_step"] == b["first_collision_step"] == 7
    assert a["steps_completed"] == 20 and len(whole.frames[0]) == 21
    assert b["steps_completed"] == 7 and len(stop.frames[0]) == 8 and not b["stable"]
    assert b["steps_checked"] == 7 and b["collided_bead_steps"] == 2  # beads 2 and 4, step 7
    np.testing.assert_array_equal(stop.frames[0], whole.frames[0][:8])
    assert stop.stability[1] == whole.stability[1] and stop.stability[1]["stable"]
    np.testing.assert_array_equal(stop.frames[1], whole.frames[1])


class SlowDriftModule(DriftModule):
    """DriftModule that takes ``delay`` s per step (a wall-clock budget runs out mid-run)."""

    def __init__(self, n: int, delay: float, **kw):
        super().__init__(n, **kw)
        self.delay = delay

    def forward(self, history, noise, external_force, box):
        time.sleep(self.delay)
        return super().forward(history, noise, external_force, box)


@pytest.mark.parametrize("batch", [True, False])
def test_paused_rollouts_continue_to_the_same_trajectories(tmp_path, batch):
    """``state_path`` + ``max_wall_s``: a run paused again and again, each time continued by a
    call with the same arguments, ends with the frames and stability of one uninterrupted
    run (also with one module per replica, i.e. several groups, and a replica retired)."""
    from openmm_cgml.evaluation.rollouts import RolloutsPaused, run_units

    bonds = np.array([[i, i + 1] for i in range(4)])
    kw = dict(bonds=[bonds] * 3, record_interval=2, chunk_steps=5, max_batch=None if batch else 1)
    seeds = replica_seeds(3, 0, 3)
    whole = run_units(lambda ids: DriftModule(5 * len(ids), nan_above=3.3), _hist(3), 40,
                      seeds, **kw)  # fmt: skip
    # seed 3: the second replica returns NaN in chunk 3 and is retired, the others finish
    assert [s["steps_completed"] for s in whole.stability] == [40, 15, 40]
    state = tmp_path / "state.pt"
    pauses = 0
    while True:
        try:
            res = run_units(lambda ids: SlowDriftModule(5 * len(ids), 0.004, nan_above=3.3),
                            _hist(3), 40, seeds, state_path=state, max_wall_s=0.05,
                            checkpoint_interval_s=1e9, **kw)  # fmt: skip
            break
        except RolloutsPaused as p:
            assert p.path == state and state.is_file() and 0 <= p.steps_done < 40
            pauses += 1
            assert pauses < 200
    assert pauses >= 2
    for a, b in zip(whole.frames, res.frames, strict=True):
        np.testing.assert_array_equal(a, b)
    assert whole.stability == res.stability
    assert res.model_steps == whole.model_steps
    # the finished state is returned again at once; other arguments are refused by name
    again = run_units(lambda ids: 1 / 0, _hist(3), 40, seeds, state_path=state, **kw)
    np.testing.assert_array_equal(again.frames[0], whole.frames[0])
    with pytest.raises(ValueError, match="differ in: seeds"):
        run_units(lambda ids: DriftModule(5 * len(ids)), _hist(3), 40, [7, 8, 9],
                  state_path=state, **kw)  # fmt: skip


def test_a_continued_run_always_advances(tmp_path):
    """With a budget too small for anything, a fresh run pauses at once and every call that
    continues it advances exactly one chunk: repeated calls always finish."""
    from openmm_cgml.evaluation.rollouts import RolloutsPaused, run_units

    state = tmp_path / "s.pt"
    done = []
    for _ in range(20):
        try:
            res = run_units(lambda ids: DriftModule(5 * len(ids)), _hist(2), 40, [3, 4],
                            chunk_steps=5, state_path=state, max_wall_s=1e-12)  # fmt: skip
            break
        except RolloutsPaused as p:
            done.append(p.steps_done)
    assert done == [0, 5, 10, 15, 20, 25, 30, 35]
    whole = run_units(lambda ids: DriftModule(5 * len(ids)), _hist(2), 40, [3, 4], chunk_steps=5)
    np.testing.assert_array_equal(res.frames[1], whole.frames[1])


def test_a_pause_reports_the_rollouts_lost_so_far(tmp_path):
    """Each pause says how many rollouts have collided or blown up so far (seed 3: the second
    replica returns NaN in the chunk of steps 16-20, so from the pause at step 20 on)."""
    from openmm_cgml.evaluation.rollouts import RolloutsPaused, run_units

    seeds = replica_seeds(3, 0, 3)
    said = {}
    for _ in range(20):
        try:
            run_units(lambda ids: DriftModule(5 * len(ids), nan_above=3.3), _hist(3), 40, seeds,
                      chunk_steps=5, state_path=tmp_path / "s.pt", max_wall_s=1e-12)
            break
        except RolloutsPaused as p:
            said[p.steps_done] = str(p).split("; ")[1]
    assert said == {d: f"so far 0 of 3 rollouts collided and {int(d >= 20)} blew up"
                    for d in range(0, 40, 5)}


def test_rollouts_interrupted_by_a_crash_continue_from_the_last_checkpoint(tmp_path):
    """With ``checkpoint_interval_s=0`` the state is written after every chunk; a run killed
    inside a chunk continues from the last one and matches the uninterrupted run."""
    from openmm_cgml.evaluation.rollouts import run_units

    seeds = [11, 12]

    class Crash(DriftModule):
        calls = 0

        def forward(self, history, noise, external_force, box):
            Crash.calls += 1
            if Crash.calls == 23:
                raise KeyboardInterrupt
            return super().forward(history, noise, external_force, box)

    whole = run_units(lambda ids: DriftModule(5 * len(ids)), _hist(2), 30, seeds, chunk_steps=4)
    state = tmp_path / "s.pt"
    with pytest.raises(KeyboardInterrupt):
        run_units(lambda ids: Crash(5 * len(ids)), _hist(2), 30, seeds, chunk_steps=4,
                  state_path=state, checkpoint_interval_s=0.0)  # fmt: skip
    saved = torch.load(state, weights_only=True)
    assert saved["done"] == 20 and not saved["complete"]
    res = run_units(lambda ids: DriftModule(5 * len(ids)), _hist(2), 30, seeds, chunk_steps=4,
                    state_path=state)  # fmt: skip
    for a, b in zip(whole.frames, res.frames, strict=True):
        np.testing.assert_array_equal(a, b)


def test_initial_histories():
    frames = np.arange(20, dtype=float)[:, None, None] * np.ones((1, 2, 3))
    h = initial_histories(frames, history_length=3, frame_ratio=2, replicas=2)
    np.testing.assert_array_equal(h[0][:, 0, 0], [0, 2, 4])
    np.testing.assert_array_equal(h[1][:, 0, 0], [7, 9, 11])
    with pytest.raises(ValueError, match="needs"):
        initial_histories(frames[:3], 3, 2, 1)


def test_rollout_molecules_with_analytic_model(polymer_dir, tmp_path):
    from openmm_cgml.export.analytic import HarmonicLangevinModel

    ref = load_trajectories(resolve_files(polymer_dir))
    dt = next(iter(ref.values())).dt_ps
    model = HarmonicLangevinModel(
        k_bond=1.0, r0_nm=0.6, gamma_per_ps=0.05, temperature=1.0, timestep_ps=dt, history_length=3
    )
    cg, results = rollout_molecules(
        model,
        ref,
        n_steps=30,
        replicas=2,
        seed=3,
        record_interval=2,
        chunk_steps=10,
        out_dir=tmp_path / "r",
    )
    assert sorted(cg) == sorted(ref)
    for name, res in results.items():
        assert len(res.frames) == 2 and res.timestep_ps == pytest.approx(dt)
        assert cg[name].dt_ps == pytest.approx(2 * dt)
        assert res.frames[0].shape[1:] == ref[name].runs[0].shape[1:]
    # written rollouts read back and group with the reference molecule
    back = load_trajectories(sorted((tmp_path / "r").glob("*.h5")))
    name = sorted(ref)[0]
    assert len(back[name].runs) == 2 and back[name].stability is not None
    # frame 0 (the last reference history frame) is not analysed as CG data
    np.testing.assert_allclose(back[name].runs[1], results[name].frames[1][1:], atol=1e-5)
    np.testing.assert_allclose(cg[name].runs[1], results[name].frames[1][1:])
    # same seed -> same rollouts, whether molecules are batched together or run one by one
    cg2, _ = rollout_molecules(
        model,
        ref,
        n_steps=30,
        replicas=2,
        seed=3,
        record_interval=2,
        chunk_steps=15,
        max_batch=1,
    )
    for n in ref:
        for r1, r2 in zip(cg2[n].runs, cg[n].runs, strict=True):
            np.testing.assert_allclose(r1, r2, atol=1e-5)


@pytest.mark.slow
def test_cli_evaluate_untrained_cgmodel_end_to_end(polymer_dir, tmp_path):
    """`cgml evaluate --model CKPT` on real polymer data with a (tiny, untrained) CGModel."""
    from openmm_cgml.cli import main
    from openmm_cgml.datasets import WindowDataset, compute_statistics
    from openmm_cgml.models import CGModel, ModelConfig, save_checkpoint

    cfg = ModelConfig(
        hidden=16,
        layers=1,
        score_layers=1,
        embed_layers=1,
        history_length=3,
        noise_levels=3,
        refine_levels=1,
        refine_steps=1,
        num_rbf=4,
    )
    stats = compute_statistics(WindowDataset(polymer_dir, history_length=3))
    torch.manual_seed(0)  # the untrained weights (unseeded, some draws fail every rollout at once)
    ckpt = save_checkpoint(CGModel(cfg, stats), tmp_path / "ckpt")
    out = tmp_path / "eval"
    rc = main(
        [
            "evaluate",
            str(polymer_dir),
            "--model",
            str(ckpt),
            "-o",
            str(out),
            "--steps",
            "20",
            "--replicas",
            "2",
            "--seed",
            "1",
            "--no-progress",
            "--tica-lag",
            "2",
        ]
    )
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["aggregate"]["num_rollouts"] == 6
    assert len(list((out / "rollouts").glob("*.h5"))) == 6
    assert (out / "report.md").exists() and (out / "rg_scatter.png").exists()


def test_evaluation_of_reference_against_itself(polymer_dir, tmp_path):
    ref = load_trajectories(resolve_files(polymer_dir))
    m = run_evaluation(ref, tmp_path, cg=ref, settings=EvaluationSettings(tica_lag_frames=2))
    agg = m["aggregate"]
    assert agg["rg_mean"]["r2"] == pytest.approx(1.0)
    assert agg["rg_mean"]["mae"] == 0.0
    assert all(v["comparison"]["rg_js"] == 0.0 for v in m["systems"].values())


def test_rollouts_that_fail_at_once_are_reported_not_analysed(polymer_dir, tmp_path):
    from openmm_cgml.export.analytic import HarmonicLangevinModel

    ref = load_trajectories(resolve_files(polymer_dir))
    dt = next(iter(ref.values())).dt_ps
    # absurd temperature: the first step stretches bonds far beyond 2x the reference maximum
    model = HarmonicLangevinModel(
        k_bond=1.0, r0_nm=0.6, gamma_per_ps=0.05, temperature=1e7, timestep_ps=dt, history_length=3
    )
    m = run_evaluation(
        ref,
        tmp_path,
        model=model,
        settings=EvaluationSettings(tica_lag_frames=2),
        rollout_options={"n_steps": 5, "replicas": 2, "chunk_steps": 5},
        save_rollouts=False,
    )
    agg = m["aggregate"]
    assert agg["molecules_without_model_frames"] == sorted(ref)
    assert agg["stable_fraction"] == 0.0 and agg["num_rollouts"] == 2 * len(ref)
    assert agg["rg_mean"]["n"] == 0 and "r2" not in agg["rg_mean"]
    assert all(s["cg"]["stability"][0]["reason"] == "blow-up" for s in m["systems"].values())
    assert all(s["cg"]["stable_fraction"] == 0.0 for s in m["systems"].values())
    # the strict figure's two parts: every rollout blew up, none collided before it did
    assert agg["blowup_free_fraction"] == 0.0 and agg["collision_free_fraction"] == 1.0
    assert (tmp_path / "report.md").exists()


def test_stable_rollouts_shorter_than_the_record_interval(tmp_path):
    """Rollouts that keep no frame (fewer steps than the record interval) have nothing to
    analyse, but their stability and collision rate come from every model step checked: they
    are stable, not failed."""
    from openmm_cgml.export.checkpoint import load_checkpoint
    from openmm_cgml.pretrained import model_path

    ref = load_trajectories(
        resolve_files(Path(__file__).resolve().parents[1] / "data" / "polymer", "test")
    )
    model = load_checkpoint(model_path("polymer-comb-equivariant"))
    m = run_evaluation(
        ref,
        tmp_path,
        model=model,
        settings=EvaluationSettings(tica_lag_frames=2),
        rollout_options={"n_steps": 4, "replicas": 2, "record_interval": 10, "seed": 3},
        save_rollouts=False,
    )
    agg = m["aggregate"]
    assert agg["molecules_without_model_frames"] == sorted(ref)
    for name, s in m["systems"].items():
        st = s["cg"]["stability"]
        assert [x["steps_checked"] for x in st] == [4, 4]
        assert s["cg"]["stable_fraction"] == np.mean([x["stable"] for x in st])
        collided = sum(x["collided_bead_steps"] for x in st)
        assert s["cg"]["collision_rate"] == collided / (8 * ref[name].num_beads)
    assert agg["stable_fraction"] > 0.0 and agg["collision_rate"] is not None
    records = [x for s in m["systems"].values() for x in s["cg"]["stability"]]
    assert agg["blowup_free_fraction"] == np.mean([x["blowup_step"] < 0 for x in records])
    assert agg["collision_free_fraction"] == np.mean(
        [x["first_collision_step"] < 0 for x in records]
    )
    assert agg["stable_fraction"] <= min(agg["blowup_free_fraction"],
                                         agg["collision_free_fraction"])
    # runs of 4 steps: no decade mark below, the run's length only, the strict figure
    assert agg["stable_fraction_by_steps"] == {"4": agg["stable_fraction"]}
    assert "stable rollouts after 10 / 100" in (tmp_path / "report.md").read_text()


def test_cli_evaluate_paused_by_max_wall_continues(tmp_path, capsys):
    """`cgml evaluate --max-wall`: the rollouts pause (state in OUT/rollout_state.pt, no
    report yet); the same command continues them, writes the report, removes the state, and
    the rollouts equal those of an uninterrupted evaluation."""
    from pathlib import Path

    from openmm_cgml.cli import main
    from openmm_cgml.reference.storage import TrajectoryFile

    data = Path(__file__).resolve().parents[1] / "data" / "polymer"

    def cmd(out, *extra):
        return ["evaluate", str(data), "--split", "test", "--model", "polymer-comb-equivariant",
                "-o", str(out), "--steps", "6", "--replicas", "1", "--chunk-steps", "2",
                "--seed", "4", "--no-progress", "--tica-lag", "2", *extra]  # fmt: skip

    assert main(cmd(tmp_path / "whole")) == 0
    out = tmp_path / "paused"
    assert main(cmd(out, "--max-wall", "1e-9")) == 0
    assert "paused after 0 of 6 model steps" in capsys.readouterr().out
    assert (out / "rollout_state.pt").is_file() and not (out / "metrics.json").exists()
    # continuing them with another model is refused, naming what differs (exit status 2)
    other = cmd(out)
    other[other.index("polymer-comb-equivariant")] = "polymer-comb"
    assert main(other) == 2
    assert "differ in:" in capsys.readouterr().err
    assert main(cmd(out)) == 0
    assert (out / "metrics.json").is_file() and not (out / "rollout_state.pt").exists()
    files = sorted((tmp_path / "whole" / "rollouts").glob("*.h5"))
    assert len(files) == 2
    for f in files:
        with TrajectoryFile(f) as a, TrajectoryFile(out / "rollouts" / f.name) as b:
            np.testing.assert_array_equal(a.bead_positions[:], b.bead_positions[:])
    # --network-dtype bfloat16: the same noise, networks in bfloat16: the rollouts stay
    # within ~0.01 nm of the float32 ones over 6 steps (measured 0.004-0.014), and say so
    half = tmp_path / "bf16"
    assert main(cmd(half, "--network-dtype", "bfloat16", "--tf32", "--no-save-rollouts",
                    "--stop-on-collision")) == 0
    info = json.loads((half / "metrics.json").read_text())["info"]
    assert info["network_dtype"] == "bfloat16" and info["tf32"] is True
    assert info["stop_on_collision"] is True
    assert not torch.backends.cuda.matmul.allow_tf32  # put back
    whole = json.loads((tmp_path / "whole" / "metrics.json").read_text())["systems"]
    halfm = json.loads((half / "metrics.json").read_text())["systems"]
    for name, sysm in whole.items():
        a, b = sysm["cg"]["rg_mean_nm"], halfm[name]["cg"]["rg_mean_nm"]
        assert a != b and abs(a - b) < 0.02


def test_cli_paused_run_is_bound_to_the_resolved_model_not_its_files(tmp_path, capsys):
    """A paused `cgml evaluate` continues after edits of config.json that do not change the
    run (metadata, a default the command overrides), is refused after one that does (naming
    ``model_config``), and a state written with the earlier identity (a fingerprint of all the
    model files) is carried over: each continued run equals the uninterrupted one."""
    import shutil
    from pathlib import Path

    from openmm_cgml.cli import main
    from openmm_cgml.evaluation.rollouts import _load_state
    from openmm_cgml.export.checkpoint import checkpoint_fingerprint
    from openmm_cgml.pretrained import model_path
    from openmm_cgml.reference.storage import TrajectoryFile
    from openmm_cgml.utils import atomic_path

    data = Path(__file__).resolve().parents[1] / "data" / "polymer"
    model = tmp_path / "model"
    shutil.copytree(model_path("polymer-comb-equivariant"), model)
    config = model / "config.json"

    def edit(**fields):
        doc = json.loads(config.read_text())
        doc["metadata"]["edited"] = len(fields)
        doc["model"].update(fields)
        config.write_text(json.dumps(doc))

    def cmd(out, *extra):
        return ["evaluate", str(data), "--split", "test", "--model", str(model), "-o", str(out),
                "--steps", "4", "--replicas", "1", "--chunk-steps", "2", "--seed", "2",
                "--sampler", "posterior", "--no-progress", "--tica-lag", "2", *extra]

    def same_rollouts(a, b):
        files = sorted((a / "rollouts").glob("*.h5"))
        assert files
        for f in files:
            with TrajectoryFile(f) as x, TrajectoryFile(b / "rollouts" / f.name) as y:
                np.testing.assert_array_equal(x.bead_positions[:], y.bead_positions[:])

    assert main(cmd(tmp_path / "whole")) == 0
    out = tmp_path / "paused"
    assert main(cmd(out, "--max-wall", "1e-9")) == 0
    edit(refine_sampler="ancestral")  # overridden by --sampler posterior: the run is the same
    assert main(cmd(out)) == 0
    same_rollouts(tmp_path / "whole", out)

    out = tmp_path / "refused"
    assert main(cmd(out, "--max-wall", "1e-9")) == 0
    capsys.readouterr()
    edit(refine_sampler="ancestral", noise_correlation=1.0)  # not overridden: another run
    assert main(cmd(out)) == 2
    assert "differ in: model_config" in capsys.readouterr().err

    edit(refine_sampler="ancestral", noise_correlation=0.316228)  # back to the shipped value
    out = tmp_path / "legacy"
    assert main(cmd(out, "--max-wall", "1e-9")) == 0
    state = out / "rollout_state.pt"
    st = _load_state(state, None)
    doc = json.loads(st["identity"])
    for key in ("model_files", "model_config", "timestep_ps"):
        doc.pop(key)
    doc["weights"] = checkpoint_fingerprint(model)  # as states were written before
    st["identity"] = json.dumps(doc, sort_keys=True, default=str)
    with atomic_path(state) as tmp:
        torch.save(st, tmp)
    assert main(cmd(out)) == 0
    same_rollouts(tmp_path / "whole", out)
