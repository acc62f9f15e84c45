"""The refinement samplers' update rules against closed forms.

For a point-mass density at ``mu`` the sigma-blurred density is a Gaussian of variance
sigma^2 per coordinate and its exact score is ``-(x - mu) / sigma^2``: a sampler that
starts on the sigma marginal should land on the next_sigma marginal. For a Gaussian of
variance s^2 the blurred density has variance s^2 + sigma^2 and score
``-(x - mu) / (s^2 + sigma^2)``.
"""

from __future__ import annotations

import pytest
import torch

from openmm_cgml.models.config import SAMPLERS
from openmm_cgml.models.sampling import diffusion_step, x0_variance

MU = torch.tensor([0.3, -1.0, 2.0], dtype=torch.float64)


def _walk(code: int, ladder: list[float], n: int = 200_000, seed: int = 0,
          width2: float = 0.0) -> list[torch.Tensor]:
    """Samples after each step from sigma_l to sigma_{l+1} (the last to 0), exact score of a
    Gaussian of variance ``width2`` (0: a point mass) at MU; one molecule of n beads."""
    g = torch.Generator().manual_seed(seed)
    x = MU + (ladder[0] ** 2 + width2) ** 0.5 * torch.randn(n, 3, generator=g,
                                                            dtype=torch.float64)
    batch = torch.zeros(n, dtype=torch.long)
    out = []
    for lev, sigma in enumerate(ladder):
        s, nxt = torch.tensor(sigma, dtype=torch.float64), torch.tensor(
            ladder[lev + 1] if lev + 1 < len(ladder) else 0.0, dtype=torch.float64)
        score = -(x - MU) / (s**2 + width2)
        analytic = code == SAMPLERS.index("analytic")
        var = x0_variance(score, s, batch, torch.tensor([n])) if analytic else None
        x = diffusion_step(x, score, s, nxt, code, torch.randn(n, 3, generator=g,
                                                                dtype=torch.float64), var)
        out.append(x)
    return out


def _posterior_variance(ladder: list[float], width2: float) -> float:
    """Closed form of the posterior walk's final variance for a Gaussian of variance width2:
    per step v <- v (1 - d / (width2 + sigma^2))^2 + d next^2 / sigma^2."""
    v = width2 + ladder[0] ** 2
    for sigma, nxt in zip(ladder, ladder[1:] + [0.0], strict=True):
        d = sigma**2 - nxt**2
        v = v * (1 - d / (width2 + sigma**2)) ** 2 + d * nxt**2 / sigma**2
    return v


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


def test_posterior_sampler_shrinks_a_density_of_finite_width_at_a_coarse_ladder():
    """It neglects the uncertainty of the denoised estimate: a Gaussian of variance 0.16
    comes out at the closed-form 0.53x after three levels (0.6, 0.3, 0.1 nm), not at 0.16."""
    ladder, width2 = [0.6, 0.3, 0.1], 0.16
    x = _walk(SAMPLERS.index("posterior"), ladder, width2=width2)[-1]
    expected = _posterior_variance(ladder, width2)
    assert x.var(0).mean().item() == pytest.approx(expected, rel=0.02)
    assert expected < 0.85 * width2


@pytest.mark.parametrize("width2", [0.0, 0.04, 0.16, 1.0])
def test_analytic_sampler_keeps_the_variance_of_a_gaussian(width2):
    """With the exact score the analytic reverse variance lands on the Gaussian's own
    variance at every level (s^2 + next^2), whatever the width and however coarse the
    ladder; for a point mass it is the posterior step."""
    ladder = [0.6, 0.3, 0.1]
    steps = _walk(SAMPLERS.index("analytic"), ladder, width2=width2)
    for x, nxt in zip(steps, ladder[1:] + [0.0], strict=True):
        torch.testing.assert_close(x.mean(0), MU, atol=5e-3, rtol=0)
        assert x.var(0).mean().item() == pytest.approx(width2 + nxt**2, rel=0.02, abs=1e-4)


def test_x0_variance_per_molecule():
    """Gamma = s^2 sigma^2 / (s^2 + sigma^2) for a Gaussian of variance s^2; each molecule
    of a batch gets its own value, the same as alone."""
    g = torch.Generator().manual_seed(5)
    sigma = torch.tensor(0.3, dtype=torch.float64)
    widths = [0.04, 0.5]
    xs = [(w + 0.09) ** 0.5 * torch.randn(50_000, 3, generator=g, dtype=torch.float64)
          for w in widths]
    scores = [-x / (w + 0.09) for x, w in zip(xs, widths, strict=True)]
    batch = torch.cat([torch.full((50_000,), i, dtype=torch.long) for i in range(2)])
    both = x0_variance(torch.cat(scores), sigma, batch, torch.bincount(batch))
    assert both.shape == (100_000, 1)
    for i, (w, s) in enumerate(zip(widths, scores, strict=True)):
        mine = both[batch == i]
        assert torch.all(mine == mine[0])
        assert mine[0].item() == pytest.approx(w * 0.09 / (w + 0.09), rel=0.03)
        alone = x0_variance(s, sigma, torch.zeros(50_000, dtype=torch.long),
                            torch.tensor([50_000]))
        torch.testing.assert_close(alone, mine)
    # clipped to [0, sigma^2]: a score larger than the point mass's gives 0, none gives sigma^2
    four = torch.tensor([4])
    assert x0_variance(torch.full((4, 3), 10.0, dtype=torch.float64), sigma,
                       torch.zeros(4, dtype=torch.long), four).max().item() == 0.0
    assert x0_variance(torch.zeros(4, 3, dtype=torch.float64), sigma,
                       torch.zeros(4, dtype=torch.long), four).min().item() == pytest.approx(0.09)


def test_analytic_sampler_needs_the_x0_variance():
    x = torch.zeros(3, 3)
    with pytest.raises(RuntimeError, match="x0_var"):
        diffusion_step(x, x, torch.tensor(0.3), torch.tensor(0.1),
                       SAMPLERS.index("analytic"), x)
