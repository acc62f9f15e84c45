"""Shipped pretrained models: listed, loadable offline, usable in OpenMM at once."""

from __future__ import annotations

import json
import os
import socket

import numpy as np
import openmm
import openmm.app as app
import openmm.unit as u
import pytest

import openmm_cgml
from openmm_cgml.pretrained import (
    DEFAULT_MODEL,
    PRETRAINED_DIR,
    list_models,
    load_model,
    model_card,
)

VILLIN = os.path.join(os.path.dirname(app.__file__), "data", "test.pdb")
CARD_KEYS = ("name", "kind", "status", "description", "mapping", "timestep_ps", "training")


def test_list_models_has_the_default_and_sizes_within_limit():
    rows = list_models()
    names = [r["name"] for r in rows]
    assert DEFAULT_MODEL in names
    assert sum(r["default"] for r in rows) == 1
    for row in rows:
        folder = PRETRAINED_DIR / row["name"]
        total = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
        assert total <= 20e6, f"{row['name']} is {total / 1e6:.1f} MB (> 20 MB)"
        card = json.loads((folder / "card.json").read_text())
        for key in CARD_KEYS:
            assert key in card, f"{row['name']}/card.json lacks {key!r}"
        assert (folder / "MODEL_CARD.md").is_file()
        for key in ("data", "command", "seed", "wall_time_s"):
            assert key in card["training"], key


def test_load_model_offline(monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    model = openmm_cgml.load_model()
    assert model.name == DEFAULT_MODEL
    assert model.timestep_ps > 0 and model.history_length >= 2
    assert model.num_parameters > 1000
    assert "status" in model.card and repr(model).startswith("CGMLModel(")


def test_unknown_model_names_the_choices():
    with pytest.raises(ValueError, match=DEFAULT_MODEL):
        load_model("no-such-model")


def _three_villin_steps(model, cg, seed: int):
    """(system, integrator, start [N, 3], positions after 3 steps [N, 3]) in nm, CPU platform."""
    system = model.create_system(cg)
    integrator = model.create_integrator(cg, seed=seed)
    sim = app.Simulation(cg.topology, system, integrator,
                         openmm.Platform.getPlatformByName("CPU"))
    x0 = cg.bead_positions()[0]
    sim.context.setPositions(x0 * u.nanometer)
    sim.step(3)
    x = sim.context.getState(getPositions=True).getPositions(asNumpy=True)._value
    assert np.all(np.isfinite(x)) and np.abs(x - x0).max() > 0
    return system, integrator, x0, x


def test_default_model_runs_villin_in_openmm(tmp_path):
    pytest.importorskip("openmm_cgml.plugin", reason="plugin not built", exc_type=ImportError)
    model = load_model()
    cg = model.map(VILLIN)
    assert cg.num_beads == 35
    system, integrator, x0, x = _three_villin_steps(model, cg, seed=5)
    step = np.linalg.norm(x - x0, axis=1)
    assert step.max() < 2.0, "three model steps moved a bead by > 2 nm"
    # the same model loaded from its folder path behaves identically
    again = load_model(PRETRAINED_DIR / DEFAULT_MODEL)
    assert again.num_parameters == model.num_parameters
    assert integrator.getUseCudaGraphs()  # the default
    assert not model.create_integrator(cg, seed=5, cuda_graphs=False).getUseCudaGraphs()
    # CUDA graphs on a CPU Context: the integrator says why they are not used
    graphed = model.create_integrator(cg, seed=5)
    ctx = openmm.Context(system, graphed, openmm.Platform.getPlatformByName("CPU"))
    ctx.setPositions(x0 * u.nanometer)
    graphed.step(1)
    assert graphed.getCudaGraphStatus().startswith("not used:")


def test_long_step_protein_model_runs_villin_in_openmm():
    """protein-residue-100ps: 100 ps per step, k = 4, the 10-level ladder it ships with
    (11 noise draws); three steps on villin stay finite with every bond under 2 nm."""
    pytest.importorskip("openmm_cgml.plugin", reason="plugin not built", exc_type=ImportError)
    assert "protein-residue-100ps" in [r["name"] for r in list_models()]
    model = load_model("protein-residue-100ps")
    assert model.timestep_ps == 100.0 and model.history_length == 4
    cg = model.map(VILLIN)
    module = model.export(cg)
    assert module.noise_draws == 11 and module.timestep_ps == 100.0
    x = _three_villin_steps(model, cg, seed=3)[3]
    assert np.linalg.norm(x[1:] - x[:-1], axis=1).max() < 2.0


def test_write_model_folder_copies_checkpoint_and_renders_card(tmp_path):
    from openmm_cgml.pretrained.packaging import REQUIRED_CARD_KEYS, write_model_folder

    card = dict(model_card())
    card["name"] = "copy"
    out = write_model_folder(PRETRAINED_DIR / DEFAULT_MODEL, tmp_path / "copy", card)
    assert json.loads((out / "card.json").read_text())["name"] == "copy"
    text = (out / "MODEL_CARD.md").read_text()
    assert text.startswith("# copy") and "## Training" in text
    again = load_model(out)
    assert again.num_parameters == load_model().num_parameters
    # a second write replaces the folder in one piece; no temporary folders are left
    write_model_folder(PRETRAINED_DIR / DEFAULT_MODEL, out, card)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy"]
    with pytest.raises(ValueError, match="lacks"):
        write_model_folder(PRETRAINED_DIR / DEFAULT_MODEL, tmp_path / "bad",
                           {k: card[k] for k in REQUIRED_CARD_KEYS[:2]})
    with pytest.raises(FileNotFoundError, match="not a cgml checkpoint"):
        write_model_folder(tmp_path, tmp_path / "bad", card)


def test_checkpoint_loader_accepts_a_training_output_folder(tmp_path):
    """`cgml train` output (OUTPUT/final) loads from OUTPUT itself, as cgml evaluate uses it."""
    import shutil

    from openmm_cgml.export.checkpoint import load_checkpoint

    run = tmp_path / "run"
    shutil.copytree(PRETRAINED_DIR / DEFAULT_MODEL, run / "final")
    net = load_checkpoint(run)
    assert sum(p.numel() for p in net.parameters()) == load_model().num_parameters
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "nothing")


@pytest.mark.parametrize("name", ["polymer-comb", "polymer-comb-equivariant"])
def test_polymer_model_runs_a_test_chain_in_openmm(name):
    """A shipped polymer model on a comb chain of the test data set: its bead mapping
    (from the reference file), an OpenMM System + CGMLIntegrator, 20 steps of 5 tau."""
    pytest.importorskip("openmm_cgml.plugin", reason="plugin not built", exc_type=ImportError)
    from openmm_cgml.reference.storage import TrajectoryFile

    names = [r["name"] for r in list_models()]
    assert name in names and "protein-residue" in names
    model = load_model(name)
    assert model.card["kind"] == "polymer"
    path = os.path.join(os.path.dirname(__file__), "..", "data", "polymer", "poly_0011.h5")
    with TrajectoryFile(path) as tf:
        cg = tf.mapping
        frames = np.asarray(tf.bead_positions[:], dtype=np.float64)
        dt_ps = float(tf.attrs["stride_ps"])
    assert model.timestep_ps == pytest.approx(dt_ps, rel=1e-6)  # same 5 tau stride
    k = model.history_length
    system = model.create_system(cg)
    integrator = model.create_integrator(cg, seed=3)
    ctx = openmm.Context(system, integrator, openmm.Platform.getPlatformByName("CPU"))
    ctx.setPositions(frames[-1] * u.nanometer)
    integrator.setHistory(frames[-k:])
    integrator.step(20)
    x = ctx.getState(getPositions=True).getPositions(asNumpy=True)._value
    bonds = np.asarray(cg.cg_bonds).reshape(-1, 2)
    ref_max = np.linalg.norm(frames[:, bonds[:, 0]] - frames[:, bonds[:, 1]], axis=-1).max()
    assert np.all(np.isfinite(x))
    assert np.linalg.norm(x[bonds[:, 0]] - x[bonds[:, 1]], axis=-1).max() < 2 * ref_max


def test_cgml_evaluate_takes_a_shipped_model_name(tmp_path):
    """`cgml evaluate --model polymer-comb` runs the shipped model (a few steps)."""
    from openmm_cgml.cli import main

    data = os.path.join(os.path.dirname(__file__), "..", "data", "polymer")
    out = tmp_path / "eval"
    rc = main(["evaluate", data, "--split", "test", "--model", "polymer-comb", "-o", str(out),
               "--steps", "3", "--replicas", "1", "--no-progress", "--no-save-rollouts",
               "--tica-lag", "2"])
    assert rc == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["aggregate"]["num_rollouts"] == 2
    assert "polymer-comb" in metrics["info"]["model"]


def test_with_refinement_exports_the_chosen_ladder_and_runs_the_same_step():
    """`load_model(...).with_refinement(...)`: its exports carry the ladder of the CLI's
    `--no-widen --refine-sigma-max 0.6 --refine-levels 10`, and give the step of an export with
    the same explicit overrides (same noise); bad names and values are named."""
    import torch

    from openmm_cgml.export.options import config_overrides
    from openmm_cgml.models.config import geometric_sigmas
    from openmm_cgml.reference.storage import TrajectoryFile

    base = load_model("polymer-comb-equivariant")
    model = base.with_refinement(widen=False, sigma_max=0.6, levels=10)
    assert model.network is base.network and base.refinement == {}  # the original is unchanged
    assert "refinement=" in repr(model)
    path = os.path.join(os.path.dirname(__file__), "..", "data", "polymer", "poly_0011.h5")
    with TrajectoryFile(path) as tf:
        cg = tf.mapping
        frames = torch.as_tensor(np.asarray(tf.bead_positions[-2:], dtype=np.float32))
    chosen = model.export(cg)
    sig = geometric_sigmas(0.6, base.network.config.sigma_min, 10)
    np.testing.assert_allclose(chosen.sigmas.cpu().numpy(), sig, rtol=1e-6)
    assert chosen.widen is False and int(chosen.noise_draws) == 11
    explicit = base.export(cg, **config_overrides(base.network.config, {
        "refine_widen": False, "refine_sigma_max": 0.6, "refine_levels": 10}))
    shipped = base.export(cg)
    # shipped: widened, with bond-graph correlated noise: the widening is one more,
    # independent draw (1 + 8 levels + 1)
    assert shipped.widen is True and int(shipped.noise_draws) == 10
    assert float(shipped.noise_correlation) > 0 and shipped.sampler == "posterior"
    earlier = base.with_refinement(sampler="ancestral", noise_correlation=0.0).export(cg)
    assert earlier.sampler == "ancestral" and float(earlier.noise_correlation) == 0.0
    assert earlier.widen is True and int(earlier.noise_draws) == 9
    n = frames.shape[1]
    noise = torch.randn(11, n, 3, generator=torch.Generator().manual_seed(0))
    args = (frames, noise, torch.zeros(n, 3), torch.zeros(3, 3))
    torch.testing.assert_close(chosen(*args), explicit(*args))
    # settings accumulate; explicit export overrides still win
    both = model.with_refinement(levels=4)
    assert both.refinement["refine_widen"] is False and int(both.export(cg).noise_draws) == 5
    assert int(model.export(cg, sigmas=[]).noise_draws) == 1
    with pytest.raises(ValueError, match="levelz"):
        base.with_refinement(levelz=3)
    with pytest.raises(ValueError, match="refine_sampler"):
        base.with_refinement(sampler="euler")
