"""The exported step module obeys the plugin contract (shapes, attributes, maths, round trip)."""

from __future__ import annotations

import io
import os

import numpy as np
import openmm.app as app
import pytest
import torch

from openmm_cgml.export import export_step_module, inference_settings, load_step_module
from openmm_cgml.export.analytic import HarmonicLangevinModel
from openmm_cgml.mapping import coarse_grain

VILLIN = os.path.join(os.path.dirname(app.__file__), "data", "test.pdb")


@pytest.fixture(scope="module")
def villin():
    return coarse_grain(VILLIN, scheme="residue")


@pytest.fixture(scope="module")
def model():
    return HarmonicLangevinModel(history_length=3).double()


def _history(mapping, k, seed=0, dtype=torch.float64):
    rng = np.random.default_rng(seed)
    x = mapping.bead_positions()[0]
    frames = [x + 0.01 * rng.normal(size=x.shape) for _ in range(k)]
    return torch.tensor(np.stack(frames), dtype=dtype)


def test_contract_attributes_and_round_trip(villin, model, tmp_path):
    path = tmp_path / "villin.pt"
    module = export_step_module(model, villin, path=path, sigmas=[0.05, 0.02, 0.01],
                                steps_per_level=2, step_size=1e-6)
    assert isinstance(module, torch.jit.ScriptModule)
    assert module.history_length == 3
    assert module.num_particles == villin.num_beads == 35
    assert module.noise_draws == 1 + 3 * 2
    assert module.timestep_ps == pytest.approx(model.dt)
    assert module.precision == "float64"
    loaded = load_step_module(path)
    for name in ("history_length", "noise_draws", "timestep_ps", "num_particles"):
        assert getattr(loaded, name) == getattr(module, name)
    h = _history(villin, 3)
    noise = torch.randn(7, 35, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    f = torch.zeros(35, 3, dtype=torch.float64)
    box = torch.zeros(3, 3, dtype=torch.float64)
    out1 = module(h, noise, f, box)
    out2 = loaded(h, noise, f, box)
    assert out1.shape == (35, 3)
    assert torch.equal(out1, out2)
    # bytes round trip (how the plugin receives the module)
    buf = io.BytesIO()
    torch.jit.save(module, buf)
    again = torch.jit.load(io.BytesIO(buf.getvalue()))
    assert torch.equal(again(h, noise, f, box), out1)
    # float32 inputs come back as float32
    assert module(h.float(), noise.float(), f.float(), box.float()).dtype == torch.float32


def test_step_equals_integration_formula(villin, model):
    """No refinement: x' = x + (v + (mean + std * eps0 + F/m) dt) dt exactly."""
    module = export_step_module(model, villin, sigmas=[])
    assert module.noise_draws == 1
    h = _history(villin, 3, seed=1)
    eps = torch.randn(1, 35, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    force = torch.randn(35, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    box = torch.zeros(3, 3, dtype=torch.float64)
    out = module(h, eps, force, box)
    dt = model.dt
    mass = torch.tensor(villin.bead_masses).reshape(-1, 1)
    emb = mass.clone()
    mean, std, _ = model.dynamics(emb, h, module.cg_bonds, module.batch, box)
    v = (h[-1] - h[-2]) / dt
    a = mean + std * eps[0] + force / mass
    expected = h[-1] + (v + a * dt) * dt
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)
    # external force enters as a = F / m (amu, kJ/mol/nm -> nm/ps^2)
    out0 = module(h, eps, torch.zeros_like(force), box)
    torch.testing.assert_close(out - out0, force / mass * dt * dt, rtol=1e-10, atol=1e-12)


def test_langevin_refinement_uses_noise_in_order(villin, model):
    sigmas = [0.04, 0.01]
    module = export_step_module(model, villin, sigmas=sigmas, steps_per_level=3, step_size=2e-6)
    plain = export_step_module(model, villin, sigmas=[])
    h = _history(villin, 3, seed=3)
    g = torch.Generator().manual_seed(3)
    noise = torch.randn(module.noise_draws, 35, 3, dtype=torch.float64, generator=g)
    zeros = torch.zeros(35, 3, dtype=torch.float64)
    box = torch.zeros(3, 3, dtype=torch.float64)
    x = plain(h, noise[:1], zeros, box)
    j = 1
    for sigma in sigmas:
        alpha = 2e-6 * (sigma / sigmas[-1]) ** 2
        for _ in range(3):
            s = model.score(x, torch.tensor(sigma), None, h, module.cg_bonds, module.batch, box)
            x = x + 0.5 * alpha * s + np.sqrt(alpha) * noise[j]
            j += 1
    torch.testing.assert_close(module(h, noise, zeros, box), x, rtol=1e-12, atol=1e-12)
    # noise_scale = 0: deterministic score ascent, later draws are ignored
    det = export_step_module(model, villin, sigmas=sigmas, steps_per_level=3, step_size=2e-6,
                             noise_scale=0.0)
    other = noise.clone()
    other[1:] = 0.0
    torch.testing.assert_close(det(h, noise, zeros, box), det(h, other, zeros, box))


class _PointMassScore(HarmonicLangevinModel):
    """Score of a point mass at the current positions blurred by sigma:
    ``-(x - history[-1]) / sigma^2`` (nm^-1), so the diffusion samplers have closed forms."""

    def score(self, x: torch.Tensor, sigma: torch.Tensor, latent: torch.Tensor,
              history: torch.Tensor, cg_bonds: torch.Tensor, batch: torch.Tensor,
              box: torch.Tensor) -> torch.Tensor:
        return -(x - history[-1]) / (sigma * sigma)


def test_diffusion_samplers_against_closed_forms(villin):
    """DDIM walks any candidate exactly onto the point mass; the ancestral sampler lands
    at ``mu + sigma_L * z_L`` (its last draw); both use one draw per level."""
    net = _PointMassScore(history_length=3).double()
    sigmas = [0.5, 0.1, 0.02]
    h = _history(villin, 3, seed=4)
    noise = torch.randn(4, 35, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    zeros, box = torch.zeros(35, 3, dtype=torch.float64), torch.zeros(3, 3, dtype=torch.float64)
    ddim = export_step_module(net, villin, sigmas=sigmas, sampler="ddim", steps_per_level=5)
    assert ddim.noise_draws == 1 + len(sigmas) and ddim.steps_per_level == 1
    torch.testing.assert_close(ddim(h, noise, zeros, box), h[-1], rtol=0, atol=1e-12)
    anc = export_step_module(net, villin, sigmas=sigmas, sampler="ancestral")
    torch.testing.assert_close(anc(h, noise, zeros, box), h[-1] + 0.02 * noise[3],
                               rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="sampler must be one of"):
        export_step_module(net, villin, sigmas=sigmas, sampler="euler")


def test_widen_samples_the_blurred_gaussian(villin, model):
    """widen: the acceleration noise is sqrt(std^2 + (sigma_1/dt^2)^2), i.e. the candidate
    deviates from the mean position by sqrt(w^2 + sigma_1^2) z with w = std dt^2; an empty
    ladder leaves the step unchanged."""
    h = _history(villin, 3, seed=5)
    noise = torch.randn(4, 35, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    zeros, box = torch.zeros(35, 3, dtype=torch.float64), torch.zeros(3, 3, dtype=torch.float64)
    plain = export_step_module(model, villin, sigmas=[])
    x_mean = plain(h, torch.zeros_like(noise), zeros, box)
    w = (plain(h, noise, zeros, box) - x_mean) / noise[0]
    # Langevin with step size 0: the refinement leaves the candidate where it is
    wide = export_step_module(model, villin, sigmas=[0.3, 0.01], steps_per_level=1,
                              step_size=0.0, widen=True)
    expected = x_mean + torch.sqrt(w * w + 0.3 ** 2) * noise[0]
    torch.testing.assert_close(wide(h, noise, zeros, box), expected, rtol=1e-9, atol=1e-9)
    same = export_step_module(model, villin, sigmas=[], widen=True)
    torch.testing.assert_close(same(h, noise, zeros, box), plain(h, noise, zeros, box))


def test_periodic_images_do_not_change_the_step(villin, model):
    """Wrapping a bead by a box vector in the history shifts its output by that vector."""
    module = export_step_module(model, villin, sigmas=[0.02], steps_per_level=1, step_size=1e-6)
    box = torch.diag(torch.tensor([7.0, 8.0, 9.0], dtype=torch.float64))
    h = _history(villin, 3, seed=4)
    noise = torch.randn(2, 35, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    zeros = torch.zeros(35, 3, dtype=torch.float64)
    out = module(h, noise, zeros, box)
    shifted = h.clone()
    shifted[-1, 5] += box[1]  # bead 5 jumps by one box vector in the current frame only
    out_shifted = module(shifted, noise, zeros, box)
    expected = out.clone()
    expected[5] += box[1]
    torch.testing.assert_close(out_shifted, expected, rtol=0, atol=1e-9)
    # without a box the jump is a real (huge) displacement
    assert not torch.allclose(module(shifted, noise, zeros, torch.zeros(3, 3).double()),
                              expected, atol=1e-3)


def test_batched_export_matches_single_molecules(villin, model):
    single = export_step_module(model, villin, sigmas=[0.02], steps_per_level=2, step_size=1e-6)
    pair = export_step_module(model, [villin, villin], sigmas=[0.02], steps_per_level=2,
                              step_size=1e-6)
    assert pair.num_particles == 70
    h1, h2 = _history(villin, 3, seed=5), _history(villin, 3, seed=6)
    g = torch.Generator().manual_seed(7)
    n1 = torch.randn(3, 35, 3, dtype=torch.float64, generator=g)
    n2 = torch.randn(3, 35, 3, dtype=torch.float64, generator=g)
    zeros = torch.zeros(35, 3, dtype=torch.float64)
    box = torch.zeros(3, 3, dtype=torch.float64)
    out = pair(torch.cat([h1, h2], 1), torch.cat([n1, n2], 1), torch.cat([zeros, zeros]), box)
    torch.testing.assert_close(out[:35], single(h1, n1, zeros, box))
    torch.testing.assert_close(out[35:], single(h2, n2, zeros, box))


def test_bad_inputs_give_clear_errors(villin, model, tmp_path):
    module = export_step_module(model, villin, sigmas=[])
    h = _history(villin, 3)
    zeros = torch.zeros(35, 3, dtype=torch.float64)
    box = torch.zeros(3, 3, dtype=torch.float64)
    with pytest.raises(Exception, match=r"history must have shape \[3, 35, 3\]"):
        module(h[:2], torch.zeros(1, 35, 3).double(), zeros, box)
    with pytest.raises(Exception, match="noise must have shape"):
        module(h, torch.zeros(1, 34, 3).double(), zeros, box)
    with pytest.raises(Exception, match="external_force"):
        module(h, torch.zeros(1, 35, 3).double(), zeros[:3], box)
    with pytest.raises(ValueError, match="decreasing"):
        export_step_module(model, villin, sigmas=[0.01, 0.1])
    with pytest.raises(FileNotFoundError, match="cgml export"):
        load_step_module(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a torchscript file")
    with pytest.raises(ValueError, match="not a TorchScript file"):
        load_step_module(bad)
    with pytest.raises(ValueError, match="not a BeadMapping"):
        export_step_module(model, object())


def test_inference_settings_from_model_config():
    from openmm_cgml.models import ModelConfig

    class Holder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.config = ModelConfig(history_length=4, sigma_max=1.0, sigma_min=0.01,
                                      noise_levels=5, refine_levels=2, refine_steps=3,
                                      refine_step_size=1e-5)
            self.statistics = {"dt": 20.0}

    s = inference_settings(Holder())
    assert s.history_length == 4 and s.timestep_ps == 20.0
    np.testing.assert_allclose(s.sigmas, [np.sqrt(0.1) * 0.1, 0.01])
    assert s.noise_draws == 1 + 2 * 3
    assert inference_settings(Holder(), sigmas=[]).noise_draws == 1


def _tiny_cgmodel(refine_sigma_max: float = 0.0, sampler: str = "langevin",
                  widen: bool = False):
    """A small untrained CGModel (seeded) and its config."""
    from openmm_cgml.models import CGModel, ModelConfig

    torch.manual_seed(0)
    cfg = ModelConfig(hidden=16, layers=2, score_layers=1, embed_layers=1, history_length=3,
                      noise_levels=4, refine_levels=2, refine_steps=2,
                      refine_sigma_max=refine_sigma_max, refine_sampler=sampler,
                      refine_widen=widen)
    net = CGModel(cfg, {"dt": 10.0, "velocity_rms": 0.02, "acceleration_rms": 0.001,
                        "displacement_rms": 0.2})
    return net, cfg


@pytest.mark.parametrize("refine_sigma_max,sampler,widen", [
    (0.0, "langevin", False), (0.5, "langevin", False), (0.5, "ddim", False),
    (0.5, "ancestral", False), (0.5, "posterior", False), (0.5, "analytic", False),
    (0.5, "analytic", True), (0.5, "ddim", True)])
def test_export_of_a_real_cgmodel_reproduces_model_step(villin, refine_sigma_max, sampler,
                                                        widen):
    """With the model's own refinement settings the export equals CGModel.step (both
    refinement ladders: the smallest training levels, and one from refine_sigma_max; all
    three samplers; the widened start)."""
    from openmm_cgml.export import fine_graph_tensors

    net, cfg = _tiny_cgmodel(refine_sigma_max, sampler, widen)
    module = export_step_module(net, villin)
    expected = cfg.sigmas()[-2:] if refine_sigma_max == 0 else [0.5, 0.01]
    assert module.sigmas.tolist() == pytest.approx(expected, rel=1e-6)
    draws = 5 if sampler == "langevin" else 3
    assert module.noise_draws == cfg.noise_draws == draws and module.sampler == sampler
    assert module.timestep_ps == 10.0 and module.history_length == 3
    h = _history(villin, 3, dtype=torch.float32)
    noise = torch.randn(draws, 35, 3, generator=torch.Generator().manual_seed(1))
    force = torch.randn(35, 3, generator=torch.Generator().manual_seed(2))
    box = torch.zeros(3, 3)
    g = fine_graph_tensors([villin])
    with torch.no_grad():
        emb = net.embed(g["atom_element"], g["atom_residue"], g["atom_role"],
                        g["atom_mass"].float(), g["atom_bonds"], g["bond_types"],
                        g["atom_to_bead"], 35)
        ref = net.step(emb, h, noise, g["cg_bonds"], g["batch"], box,
                       force / g["bead_masses"].float()[:, None])
    with torch.jit.optimized_execution(False):  # dynamic shapes: skip re-specialisation
        out = module(h, noise, force, box)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


def test_step_module_buffers_live_with_the_weights():
    """The noise ladder is created on the device of the embeddings (a CPU ladder beside
    CUDA weights made every exported model fail on the GPU). ``meta`` stands in for CUDA."""
    from openmm_cgml.export.step import StepModule

    n = 4
    module = StepModule(torch.nn.Identity(), torch.zeros(n, 8, device="meta"),
                        torch.ones(n), torch.zeros(2, 0, dtype=torch.long),
                        torch.zeros(n, dtype=torch.long), history_length=2, timestep_ps=1.0,
                        sigmas=[0.1, 0.01], steps_per_level=2, step_size=1e-5)
    for name in ("sigmas", "alphas", "noise_scales"):
        assert getattr(module, name).device.type == "meta", name


_CUDA = torch.cuda.is_available()


@pytest.mark.gpu
@pytest.mark.skipif(not _CUDA, reason="needs torch with CUDA")
@pytest.mark.parametrize("sampler", ["langevin", "ddim"])
def test_real_cgmodel_export_runs_on_cuda_like_on_cpu(villin, sampler):
    """A real CGModel exported to CUDA gives the CPU export's step (float tolerance)."""
    net, _ = _tiny_cgmodel(0.5, sampler)
    cpu = export_step_module(net, villin)
    gpu = export_step_module(net, villin, device="cuda")
    h = _history(villin, 3, dtype=torch.float32)
    noise = torch.randn(cpu.noise_draws, 35, 3, generator=torch.Generator().manual_seed(1))
    args = (h, noise, torch.zeros(35, 3), torch.zeros(3, 3))
    with torch.jit.optimized_execution(False):
        ref = cpu(*args)
        out = gpu(*(a.cuda() for a in args)).cpu()
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


def test_export_cli_refinement_ladder_overrides(tmp_path, capsys):
    """cgml export --refine-levels/--refine-sigma-max: the ladder is ModelConfig's, and an
    override outside the trained sigma range is refused with the field named."""
    from openmm_cgml.cli import main
    from openmm_cgml.models import save_checkpoint

    net, _ = _tiny_cgmodel()
    ckpt = save_checkpoint(net, tmp_path / "ckpt")
    out = tmp_path / "m.pt"
    pdb = os.path.join(os.path.dirname(app.__file__), "data", "test.pdb")
    rc = main(["export", str(ckpt), "-s", pdb, "-o", str(out), "--refine-levels", "3",
               "--refine-sigma-max", "0.4"])
    assert rc == 0
    module = load_step_module(out)
    assert module.sigmas.tolist() == pytest.approx([0.4, 0.4 * 0.025 ** 0.5, 0.01], rel=1e-6)
    assert module.noise_draws == 1 + 3 * 2
    rc = main(["export", str(ckpt), "-s", pdb, "-o", str(out), "--sampler", "ddim", "--widen"])
    assert rc == 0
    module = load_step_module(out)
    assert module.sampler == "ddim" and module.noise_draws == 1 + 2 and module.widen
    capsys.readouterr()
    rc = main(["export", str(ckpt), "-s", pdb, "-o", str(tmp_path / "bad.pt"),
               "--refine-sigma-max", "5"])
    assert rc == 2 and "refine_sigma_max" in capsys.readouterr().err
    assert not (tmp_path / "bad.pt").exists()
