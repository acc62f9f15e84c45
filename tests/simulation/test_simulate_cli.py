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
                        "--no-cuda-graphs"]) == 0
    anc_summary = json.loads((tmp_path / "anc" / "summary.json").read_text())
    assert anc_summary["cuda_graphs"] == "not used: disabled by setUseCudaGraphs(False)"
    anc = anc_summary["refinement"]
    assert anc == {"sampler": "ancestral", "levels": 2, "sigma_max_nm": pytest.approx(0.5),
                   "widen": True, "network_calls_per_step": 3}
    capsys.readouterr()
    assert main(base + ["-o", str(tmp_path / "bad"), "--refine-sigma-max", "9"]) == 2
    assert "refine_sigma_max" in capsys.readouterr().err
