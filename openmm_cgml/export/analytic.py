"""A non-learned Langevin "model" with the CGModel interface, for tests and baselines.

:class:`HarmonicLangevinModel` implements ``embed``/``dynamics``/``score`` of
docs/CONTRACTS.md §5 analytically: harmonic CG bonds (``k_bond`` kJ/mol/nm^2 around
``r0_nm``), Langevin friction ``gamma`` (1/ps) at ``temperature`` K, Euler-Maruyama noise.
Its output is known in closed form, so the export machinery, the plugin and the python
rollout can be checked against exact numbers, and the speed benchmark can time the step
machinery without a GNN. It is TorchScript-compatible like the real models.
"""

from __future__ import annotations

import math

import torch

from openmm_cgml.export.geometry import finite_difference_velocity, minimum_image

BOLTZMANN_KJ_PER_K = 0.0083144626181532  # kJ/mol/K


class HarmonicLangevinModel(torch.nn.Module):
    """Analytic CG dynamics: harmonic bonds + Langevin friction and noise.

    ``dynamics`` returns mean acceleration ``F_bond/m - gamma v`` (nm/ps^2), std
    ``sqrt(2 gamma kT / (m dt))`` (nm/ps^2) and the embeddings as latent; ``score`` returns
    ``-grad U_bond / kT`` (nm^-1). The embedding of a bead is its mass ``[N, 1]`` (amu).
    """

    def __init__(self, k_bond: float = 100.0, r0_nm: float = 0.38, gamma_per_ps: float = 1.0,
                 temperature: float = 300.0, timestep_ps: float = 0.05,
                 history_length: int = 2) -> None:
        super().__init__()
        self.k_bond = float(k_bond)
        self.r0 = float(r0_nm)
        self.gamma = float(gamma_per_ps)
        self.kT = float(BOLTZMANN_KJ_PER_K * temperature)
        self.dt = float(timestep_ps)
        # a parameter so that the module has a dtype (the plugin reads it)
        self.scale = torch.nn.Parameter(torch.ones(1))
        self.config = {"timestep_ps": self.dt, "history_length": int(history_length)}

    def embed(self, atom_element: torch.Tensor, atom_residue: torch.Tensor,
              atom_role: torch.Tensor, atom_mass: torch.Tensor, atom_bonds: torch.Tensor,
              bond_types: torch.Tensor, atom_to_bead: torch.Tensor,
              num_beads: int) -> torch.Tensor:
        mass = torch.zeros(num_beads, dtype=self.scale.dtype, device=atom_mass.device)
        mass = mass.index_add(0, atom_to_bead, atom_mass.to(self.scale.dtype))
        return mass.reshape(num_beads, 1) * self.scale

    def bond_force(self, x: torch.Tensor, cg_bonds: torch.Tensor,
                   box: torch.Tensor) -> torch.Tensor:
        """Harmonic bond forces ``[N, 3]`` kJ/mol/nm."""
        i = cg_bonds[0]
        j = cg_bonds[1]
        d = minimum_image(x[j] - x[i], box)
        r = torch.linalg.vector_norm(d, dim=-1, keepdim=True).clamp_min(1e-9)
        f = -self.k_bond * (r - self.r0) * d / r  # force on j
        out = torch.zeros_like(x)
        out = out.index_add(0, j, f)
        out = out.index_add(0, i, -f)
        return out

    def dynamics(self, bead_emb: torch.Tensor, history: torch.Tensor, cg_bonds: torch.Tensor,
                 batch: torch.Tensor, box: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mass = bead_emb[:, 0:1]
        v = finite_difference_velocity(history, box, self.dt)
        mean = self.bond_force(history[-1], cg_bonds, box) / mass - self.gamma * v
        std = torch.sqrt(2.0 * self.gamma * self.kT / (mass * self.dt)).expand_as(mean)
        return mean, std, bead_emb

    def score(self, x: torch.Tensor, sigma: torch.Tensor, latent: torch.Tensor,
              history: torch.Tensor, cg_bonds: torch.Tensor, batch: torch.Tensor,
              box: torch.Tensor) -> torch.Tensor:
        return self.bond_force(x, cg_bonds, box) / self.kT

    def extra_repr(self) -> str:
        return (f"k_bond={self.k_bond}, r0={self.r0}, gamma={self.gamma}, "
                f"kT={self.kT:.4f}, dt={self.dt}, std_scale={math.sqrt(2 * self.gamma)}")
