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


def diffusion_step(x: Tensor, score: Tensor, sigma: Tensor, next_sigma: Tensor,
                   sampler_code: int, z: Tensor) -> Tensor:
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
    and on the point at ``next_sigma = 0``).
    """
    if sampler_code == 1:
        x0 = x + sigma * sigma * score
        return x0 + (next_sigma / sigma) * (x - x0)
    d = sigma * sigma - next_sigma * next_sigma
    if sampler_code == 3:
        return x + d * score + torch.sqrt(d) * (next_sigma / sigma) * z
    return x + d * score + torch.sqrt(d) * z
