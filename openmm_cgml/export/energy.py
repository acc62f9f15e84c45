"""Energy modules for ``CGMLForce``: the score net as an (approximate) CG force field.

``CGMLForce`` runs ``forward(positions[N,3] nm, box[3,3] nm) -> energy`` (kJ/mol) and takes
the forces as ``-d energy / d positions``. The score net is a vector field, not the gradient
of a scalar, so there is no exact energy to export. :class:`ScoreForceModule` returns the
surrogate ``E(x) = -kT * sum(stop_grad(s(x)) * x)`` whose gradient gives exactly the forces

    F(x) = kT * s(x; sigma)          (kJ/mol/nm; s in nm^-1)

where ``s`` is the score at noise level ``sigma`` (default: the smallest of the ladder) of the
next positions given a *static* history (all k frames = x, i.e. beads at rest). Use it with
any OpenMM integrator (e.g. a Langevin integrator with the bead masses) or mixed with other
forces. The energy *value* is not a potential energy: do not use it for energy
minimisation, energy conservation or free-energy estimates.
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from openmm_cgml.export.export import _as_mappings, bead_embeddings, fine_graph_tensors, quiet_jit

BOLTZMANN_KJ_PER_K = 0.0083144626181532  # kJ/mol/K


class ScoreForceModule(torch.nn.Module):
    """``forward(positions[N, 3], box[3, 3]) -> surrogate energy``; forces = kT * score."""

    def __init__(self, model: torch.nn.Module, bead_embeddings: torch.Tensor,
                 cg_bonds: torch.Tensor, batch: torch.Tensor, history_length: int,
                 sigma_nm: float, kT: float) -> None:
        super().__init__()
        self.model = model
        dtype = bead_embeddings.dtype
        self.register_buffer("bead_embeddings", bead_embeddings.detach().clone())
        self.register_buffer("cg_bonds", cg_bonds.to(torch.long).reshape(2, -1).clone())
        self.register_buffer("batch", batch.to(torch.long).clone())
        self.register_buffer("sigma", torch.tensor(float(sigma_nm), dtype=dtype,
                                                   device=bead_embeddings.device))
        self.kT: float = float(kT)
        self.history_length: int = int(history_length)
        self.num_particles: int = int(bead_embeddings.shape[0])
        self.precision: str = "float64" if dtype == torch.float64 else "float32"

    def forward(self, positions: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
        dtype = self.bead_embeddings.dtype
        x = positions.to(dtype)
        xd = x.detach()
        cell = box.to(dtype).detach()
        history = xd.unsqueeze(0).expand(self.history_length, xd.shape[0], 3).contiguous()
        _, _, latent = self.model.dynamics(self.bead_embeddings, history, self.cg_bonds,
                                           self.batch, cell)
        s = self.model.score(xd, self.sigma, latent, history, self.cg_bonds, self.batch, cell)
        return -(self.kT * (s.detach() * x).sum()).to(positions.dtype)

    @torch.jit.export
    def forces(self, positions: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
        """The forces ``[N, 3]`` (kJ/mol/nm) directly: kT * score."""
        dtype = self.bead_embeddings.dtype
        x = positions.to(dtype).detach()
        cell = box.to(dtype)
        history = x.unsqueeze(0).expand(self.history_length, x.shape[0], 3).contiguous()
        _, _, latent = self.model.dynamics(self.bead_embeddings, history, self.cg_bonds,
                                           self.batch, cell)
        return self.kT * self.model.score(x, self.sigma, latent, history, self.cg_bonds,
                                          self.batch, cell)


def export_score_force(model: torch.nn.Module, mapping: Any, *, temperature_K: float = 300.0,
                       sigma_nm: float | None = None, history_length: int | None = None,
                       device: str = "cpu") -> torch.jit.ScriptModule:
    """TorchScript energy module for ``CGMLForce`` whose forces are ``kT * score`` (see module doc).

    Args:
        model: trained ``CGModel`` (or any module with TorchScript ``embed/dynamics/score``).
        mapping: BeadMapping (or a list; molecules concatenated).
        temperature_K: sets kT (kJ/mol).
        sigma_nm: noise level of the score (default: smallest of the model's ladder).
        history_length: k of the static history (default: the model's).
    """
    from openmm_cgml.export.export import inference_settings

    if not temperature_K > 0:
        raise ValueError(f"temperature_K must be > 0, got {temperature_K}")
    settings = inference_settings(model, history_length=history_length)
    if sigma_nm is None:
        cfg = getattr(model, "config", None)
        sigma_nm = float(getattr(cfg, "sigma_min", 0.0)) if cfg is not None else 0.0
        if not sigma_nm > 0:
            sigma_nm = settings.sigmas[-1] if settings.sigmas else 0.01
    mappings = _as_mappings(mapping)
    net = copy.deepcopy(model).to(device).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    g = fine_graph_tensors(mappings, device)
    emb = bead_embeddings(net, mappings, device)
    module = ScoreForceModule(net, emb, g["cg_bonds"], g["batch"], settings.history_length,
                              float(sigma_nm), BOLTZMANN_KJ_PER_K * float(temperature_K))
    with quiet_jit():
        return torch.jit.script(module)
