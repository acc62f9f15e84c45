"""The refinement samplers' update rules against closed forms.

For a point-mass density at ``mu`` the sigma-blurred density is a Gaussian of variance
sigma^2 per coordinate and its exact score is ``-(x - mu) / sigma^2``: a sampler that
starts on the sigma marginal should land on the next_sigma marginal.
"""

from __future__ import annotations

import pytest
import torch

from openmm_cgml.models.config import SAMPLERS
from openmm_cgml.models.sampling import diffusion_step

MU = torch.tensor([0.3, -1.0, 2.0], dtype=torch.float64)


def _walk(code: int, ladder: list[float], n: int = 200_000, seed: int = 0) -> list[torch.Tensor]:
    """Samples after each step from sigma_l to sigma_{l+1} (the last to 0), exact score."""
    g = torch.Generator().manual_seed(seed)
    x = MU + ladder[0] * torch.randn(n, 3, generator=g, dtype=torch.float64)
    out = []
    for lev, sigma in enumerate(ladder):
        s, nxt = torch.tensor(sigma, dtype=torch.float64), torch.tensor(
            ladder[lev + 1] if lev + 1 < len(ladder) else 0.0, dtype=torch.float64)
        score = -(x - MU) / s**2
        x = diffusion_step(x, score, s, nxt, code, torch.randn(n, 3, generator=g,
                                                                dtype=torch.float64))
        out.append(x)
    return out


def test_posterior_sampler_keeps_the_marginals_of_a_point_mass():
    ladder = [0.6, 0.3, 0.1]  # coarse: ratios 0.5 and 0.33
    steps = _walk(SAMPLERS.index("posterior"), ladder)
    for x, target in zip(steps, ladder[1:] + [0.0], strict=True):
        torch.testing.assert_close(x.mean(0), MU, atol=5e-3, rtol=0)
        assert x.var(0).mean().item() == pytest.approx(target**2, rel=0.02, abs=1e-12)
    # the last step (to sigma = 0) lands exactly on the point
    torch.testing.assert_close(steps[-1], MU.expand_as(steps[-1]))


def test_euler_ancestral_over_disperses_at_a_coarse_ladder():
    """The reverse-SDE Euler step ('ancestral') adds sqrt(d) noise: variance
    next^4 / sigma^2 + d instead of next^2 (0.6 -> 0.3: 0.3 instead of 0.09)."""
    ladder = [0.6, 0.3]
    x = _walk(SAMPLERS.index("ancestral"), ladder)[0]
    expected = 0.3**4 / 0.6**2 + (0.6**2 - 0.3**2)
    assert x.var(0).mean().item() == pytest.approx(expected, rel=0.02)
    assert expected > 3 * 0.3**2


def test_ddim_is_deterministic_and_exact_for_a_point_mass():
    ladder = [0.6, 0.2]
    x = _walk(SAMPLERS.index("ddim"), ladder, n=1000)
    assert x[0].var(0).mean().item() == pytest.approx(0.2**2, rel=0.15)
    torch.testing.assert_close(x[-1], MU.expand_as(x[-1]))
