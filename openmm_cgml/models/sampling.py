"""The refinement samplers' update rules, shared by ``CGModel`` and the exported step module.

Plain TorchScript-compatible functions of tensors (nm, ps); ``openmm_cgml.export.step`` calls
the same functions, so the exported step cannot drift from ``CGModel.step``.
"""

from __future__ import annotations

import torch
from torch import Tensor


def widened_std(std: Tensor, top: Tensor) -> Tensor:
    """Acceleration std (nm/ps^2) widened by ``top = sigma_1 / dt^2`` (the ladder top, nm,
    over the squared time step, ps^2): ``sqrt(std^2 + top^2)``, so that the sampled position
    is blurred by sigma_1 on top of the dynamics' own spread."""
    return torch.sqrt(std * std + top * top)


def x0_variance(score: Tensor, sigma: Tensor, batch: Tensor, molecule_beads: Tensor) -> Tensor:
    """The conditional variance of the clean positions given the noisy ones, per molecule.

    ``Gamma = sigma^2 - sigma^4 * mean(score^2)`` (nm^2), the mean over a molecule's beads
    and components, clipped to ``[0, sigma^2]``: for a density blurred by Gaussian noise of
    ``sigma`` (nm) this is the average of ``Var(x0 | x_sigma)`` per coordinate (Bao et al.
    2022, Analytic-DPM, in the variance-exploding form); for a Gaussian of variance ``s^2``
    it is ``s^2 sigma^2 / (s^2 + sigma^2)``. ``score`` [N, 3] nm^-1; ``batch`` [N] molecule
    index of each bead; ``molecule_beads`` [M] beads of each molecule
    (``torch.bincount(batch)``, counted once by the caller). Returns [N, 1] nm^2, each bead
    its molecule's value (a molecule's value does not depend on the others in the batch).
    """
    sq = torch.zeros(molecule_beads.shape[0], dtype=score.dtype,
                     device=score.device).index_add_(0, batch, (score * score).sum(-1))
    s2 = sigma * sigma
    gamma = s2 - s2 * s2 * sq / (3.0 * molecule_beads.to(score.dtype).clamp(min=1.0))
    return torch.minimum(gamma.clamp(min=0.0), s2)[batch].unsqueeze(-1)


def diffusion_step(x: Tensor, score: Tensor, sigma: Tensor, next_sigma: Tensor,
                   sampler_code: int, z: Tensor, x0_var: Tensor | None = None) -> Tensor:
    """One step of a diffusion sampler from noise level ``sigma`` to ``next_sigma`` (nm).

    ``x`` [N, 3] nm; ``score`` [N, 3] = grad log p_sigma(x), nm^-1; ``z`` [N, 3] standard
    normal. ``sampler_code`` 1 = DDIM (deterministic): with ``x0 = x + sigma^2 * score``,
    ``x0 + next_sigma / sigma * (x - x0)``; 2 = ancestral (reverse-SDE Euler, variance
    exploding): ``x + d * score + sqrt(d) * z`` with ``d = sigma^2 - next_sigma^2``;
    3 = posterior (ancestral sampling with the Gaussian posterior's noise, Song et al. 2021's
    SMLD ancestral sampler): ``x + d * score + sqrt(d) * next_sigma / sigma * z``. The two
    stochastic steps have the same drift; the posterior one adds the noise that keeps the
    marginal at ``next_sigma`` where the Euler step over-disperses at coarse ladders (for a
    point-mass density and the exact score it lands exactly on the ``next_sigma`` marginal,
    and on the point at ``next_sigma = 0``); 4 = analytic (the same drift with the optimal
    reverse variance of Analytic-DPM, Bao et al. 2022):
    ``x + d * score + sqrt(d * next_sigma^2 / sigma^2 + (d / sigma^2)^2 * x0_var) * z``,
    ``x0_var`` [N, 1] nm^2 from :func:`x0_variance`. The posterior step neglects the
    uncertainty of the denoised estimate and so shrinks a density of finite width at coarse
    ladders (a Gaussian of variance 0.16 nm^2, 8 levels from 0.3 nm: to 0.80x); with the
    exact score the analytic step keeps a Gaussian's variance at any ladder.
    """
    if sampler_code == 1:
        x0 = x + sigma * sigma * score
        return x0 + (next_sigma / sigma) * (x - x0)
    d = sigma * sigma - next_sigma * next_sigma
    if sampler_code == 4:
        if x0_var is None:
            raise RuntimeError("the analytic sampler needs x0_var (see x0_variance)")
        c = d / (sigma * sigma)
        var = d * (next_sigma / sigma) ** 2 + c * c * x0_var
        return x + d * score + torch.sqrt(var) * z
    if sampler_code == 3:
        return x + d * score + torch.sqrt(d) * (next_sigma / sigma) * z
    return x + d * score + torch.sqrt(d) * z
