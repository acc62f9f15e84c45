"""`cgml simulate` on villin (openmm's own test.pdb) for a few steps with a tiny checkpoint."""

from __future__ import annotations

import json
import os

import numpy as np
import openmm.app as app
import pytest
import torch

pytest.importorskip("openmm_cgml.plugin", reason="compiled plugin not built", exc_type=ImportError)

VILLIN = os.path.join(os.path.dirname(app.__file__), "data", "test.pdb")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from openmm_cgml.models import CGModel, ModelConfig, save_checkpoint

    torch.manual_seed(0)
    cfg = ModelConfig(hidden=16, layers=1, score_layers=1, embed_layers=1, history_length=3,
                      noise_levels=3, refine_levels=1, refine_steps=1, refine_step_size=1e-6)
    net = CGModel(cfg, {"dt": 10.0, "velocity_rms": 0.005, "acceleration_rms": 1e-5,
                        "displacement_rms": 0.05})
    path = tmp_path_factory.mktemp("ckpt") / "tiny"
    save_checkpoint(net, path)
    (path / "card.json").write_text(json.dumps({"name": "tiny", "mapping": {"scheme": "residue"},
                                                "status": "test model"}))
    return path


def test_simulate_writes_everything_and_resumes(checkpoint, tmp_path):
    import mdtraj

    from openmm_cgml.cli import main

    out = tmp_path / "run"
    args = ["simulate", VILLIN, "--time", "100ps", "-o", str(out), "--model", str(checkpoint),
            "--seed", "3", "--platform", "CPU", "--report-interval", "2", "--no-progress"]
    assert main(args) == 0
    for name in ("beads.pdb", "trajectory.dcd", "log.csv", "rg.png", "summary.json",
                 "summary.txt", "checkpoint.chk"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 10 and summary["num_beads"] == 35
    assert summary["simulated_ns"] == pytest.approx(0.1)
    assert summary["ns_per_day"] > 0 and summary["wall_s"] > 0
    assert summary["collisions"] >= 0 and summary["platform"] == "CPU"
    traj = mdtraj.load(str(out / "trajectory.dcd"), top=str(out / "beads.pdb"))
    assert traj.n_atoms == 35 and traj.n_frames == 6  # start + every 2 steps
    log = np.genfromtxt(out / "log.csv", delimiter=",", names=True)
    assert list(log["step"]) == [0, 2, 4, 6, 8, 10]
    assert np.all(log["rg_nm"] > 0.5) and np.all(log["rg_nm"] < 3.0)
    # resume to 200 ps: appends, and equals an uninterrupted 200 ps run with the same seed
    assert main(args[:3] + ["200ps"] + args[4:] + ["--resume"]) == 0
    resumed = mdtraj.load(str(out / "trajectory.dcd"), top=str(out / "beads.pdb"))
    assert resumed.n_frames == 11
    full = tmp_path / "full"
    assert main(args[:3] + ["200ps", "-o", str(full)] + args[6:]) == 0
    straight = mdtraj.load(str(full / "trajectory.dcd"), top=str(full / "beads.pdb"))
    np.testing.assert_allclose(resumed.xyz, straight.xyz, atol=1e-5)
    log2 = np.genfromtxt(out / "log.csv", delimiter=",", names=True)
    assert list(log2["step"]) == list(range(0, 21, 2))


def test_simulate_bad_input_is_one_line_error(tmp_path, capsys, checkpoint):
    from openmm_cgml.cli import main

    assert main(["simulate", str(tmp_path / "none.pdb"), "-o", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["simulate", VILLIN, "-o", str(tmp_path / "o"), "--time", "ten ns",
                 "--model", str(checkpoint)]) == 2
    assert "cannot read the duration" in capsys.readouterr().err
    assert main(["simulate", VILLIN, "-o", str(tmp_path / "o"), "--model", "no-such-model"]) == 2
    assert "unknown model" in capsys.readouterr().err


def test_simulate_refinement_options_change_the_sampler(checkpoint, tmp_path, capsys):
    """--sampler/--widen/--refine-*: the run uses them (recorded in summary.json), the model's
    own settings otherwise; a ladder outside the trained range is refused by name."""
    from openmm_cgml.cli import main

    base = ["simulate", VILLIN, "--time", "30ps", "--model", str(checkpoint), "--seed", "3",
            "--platform", "CPU", "--no-progress"]
    assert main(base + ["-o", str(tmp_path / "own")]) == 0
    own_summary = json.loads((tmp_path / "own" / "summary.json").read_text())
    own = own_summary["refinement"]
    assert own["sampler"] == "langevin" and own["levels"] == 1 and not own["widen"]
    # on by default, but the CPU platform runs the module on the CPU: the summary says so
    assert own_summary["cuda_graphs"] == "not used: the module runs on cpu, not CUDA"
    assert main(base + ["-o", str(tmp_path / "anc"), "--sampler", "ancestral", "--widen",
                        "--refine-levels", "2", "--refine-sigma-max", "0.5",
                        "--no-cuda-graphs", "--tf32"]) == 0
    anc_summary = json.loads((tmp_path / "anc" / "summary.json").read_text())
    assert anc_summary["cuda_graphs"] == "not used: disabled by setUseCudaGraphs(False)"
    # --tf32 and the optimizing executor only apply on CUDA
    assert anc_summary["tf32"] is False and anc_summary["jit_optimized"] is False
    assert own_summary["tf32"] is False
    anc = anc_summary["refinement"]
    assert anc == {"sampler": "ancestral", "levels": 2, "sigma_max_nm": pytest.approx(0.5),
                   "widen": True, "network_calls_per_step": 3}
    capsys.readouterr()
    assert main(base + ["-o", str(tmp_path / "bad"), "--refine-sigma-max", "9"]) == 2
    assert "refine_sigma_max" in capsys.readouterr().err


def test_log_reporter_counts_collisions_within_molecules_only(tmp_path):
    """CGLogReporter: Rg per molecule (mass-weighted, closed form), collisions only between
    non-bonded beads of one molecule (a replica lying on top of another is not a collision)."""
    from types import SimpleNamespace

    import openmm.unit as u

    from openmm_cgml.simulation.reporters import CGLogReporter

    rod = np.array([[0.0, 0.0, 0.0], [0.4, 0.0, 0.0], [0.8, 0.0, 0.0], [0.85, 0.0, 0.0]])
    x = np.concatenate([rod, rod + [0.01, 0.0, 0.0]])  # replica 1 almost on replica 0
    masses = np.array([1.0, 1.0, 1.0, 3.0] * 2)
    bonds = np.array([[0, 1], [1, 2], [4, 5], [5, 6]])
    rep = CGLogReporter(tmp_path / "log.csv", 1, masses, bonds, collision_threshold_nm=0.1,
                        molecules=np.repeat([0, 1], 4))
    state = SimpleNamespace(getPositions=lambda asNumpy: x * u.nanometer,
                            getTime=lambda: 5.0 * u.picosecond)
    rep.report(SimpleNamespace(currentStep=3), state)
    row = rep.rows[0]
    assert row["collisions"] == 2  # beads 2-3 in each molecule (0.05 nm, not bonded)
    assert row["min_distance_nm"] == pytest.approx(0.05)
    w = masses[:4] / masses[:4].sum()
    centre = w @ rod
    expected = np.sqrt(w @ ((rod - centre) ** 2).sum(1))
    np.testing.assert_allclose(rep.rg_per_molecule[0], [expected, expected])
    # CG bonds: 0.4 nm each; the longest per molecule
    assert row["mean_bond_nm"] == pytest.approx(0.4) and row["max_bond_nm"] == pytest.approx(0.4)
    np.testing.assert_allclose(rep.max_bond_per_molecule[0], [0.4, 0.4])
    rep.close()
    header = (tmp_path / "log.csv").read_text().splitlines()[0].split(",")
    assert header == list(CGLogReporter.columns) and "max_bond_nm" in header
    with pytest.raises(ValueError, match="molecules"):
        CGLogReporter(tmp_path / "bad.csv", 1, masses, molecules=np.zeros(3))


def test_simulate_replicas_in_one_system(checkpoint, tmp_path, capsys):
    """--replicas 3: one System holding three copies side by side, all in the DCD; the
    replicas get different noise; summary has per-replica Rg and the aggregate speed."""
    import mdtraj

    from openmm_cgml.cli import main

    out = tmp_path / "rep"
    assert main(["simulate", VILLIN, "--time", "40ps", "-o", str(out), "--model", str(checkpoint),
                 "--seed", "3", "--platform", "CPU", "--no-progress", "--replicas", "3",
                 "--report-interval", "1"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["replicas"] == 3 and summary["num_beads"] == 35
    assert summary["aggregate_ns_per_day"] == pytest.approx(3 * summary["ns_per_day"])
    assert len(summary["rg_mean_per_replica_nm"]) == 3
    # bond statistics: start bonds of villin's residue beads are ~0.4-0.6 nm
    assert 0.3 < summary["bond_mean_nm"] < summary["bond_max_nm"]
    assert 0.6 < summary["long_bond_threshold_nm"] < 1.4
    assert 0.0 <= summary["long_bond_frame_fraction"] <= 1.0
    assert summary["network_dtype"] == "float32"
    assert "CG bonds" in (out / "summary.txt").read_text()
    traj = mdtraj.load(str(out / "trajectory.dcd"), top=str(out / "beads.pdb"))
    assert traj.n_atoms == 105 and traj.n_frames == 5
    a, b = traj.xyz[:, :35], traj.xyz[:, 35:70]
    start_shift = b[0] - a[0]
    np.testing.assert_allclose(start_shift, start_shift[:1].repeat(35, 0), atol=1e-3)
    assert start_shift[0, 0] > 2.0  # side by side along x
    assert np.abs((b[-1] - b[0]) - (a[-1] - a[0])).max() > 1e-3  # different noise
    assert "replicas             3" in (out / "summary.txt").read_text()
    with pytest.raises(SystemExit):
        main(["simulate", VILLIN, "-o", str(out), "--replicas", "x"])
    assert main(["simulate", VILLIN, "-o", str(tmp_path / "r0"), "--model", str(checkpoint),
                 "--replicas", "0", "--platform", "CPU", "--no-progress"]) == 2
    assert "--replicas must be >= 1" in capsys.readouterr().err
    # a checkpoint of 3 replicas cannot be resumed as one molecule: a clear error
    assert main(["simulate", VILLIN, "--time", "80ps", "-o", str(out), "--model",
                 str(checkpoint), "--seed", "3", "--platform", "CPU", "--no-progress",
                 "--resume"]) == 2
    assert "--replicas of the run that wrote it" in capsys.readouterr().err
