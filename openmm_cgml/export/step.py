"""The TorchScript step module: one learned CG time step for one molecule (or a batch).

Contract (``../shared/DESIGN.md``, ``docs/CONTRACTS.md`` §1)::

    forward(history: Tensor[k, N, 3],      # bead positions, nm, oldest first, last = current
            noise: Tensor[M, N, 3],        # standard normal draws made by the integrator
            external_force: Tensor[N, 3],  # kJ/mol/nm from the System's other forces
            box: Tensor[3, 3]) -> Tensor[N, 3]   # next bead positions, nm; box zeros = no PBC
    attributes: history_length (k), noise_draws (M), timestep_ps, num_particles

What one step does (``dt`` = ``timestep_ps``):

1. ``v = (x[-1] - x[-2]) / dt`` (finite difference of the history, minimum-imaged);
2. ``mean, std, latent = dynamics(bead_embeddings, history, ...)`` (nm/ps^2);
3. ``a = mean + std * noise[0] + external_force / bead_mass`` (kJ/mol/nm / amu = nm/ps^2);
   with ``widen``, ``std`` is first replaced by ``sqrt(std^2 + (sigma_1 / dt^2)^2)``;
   with ``noise_correlation`` (``lambda0 > 0``) ``noise[0]`` is first correlated along each
   molecule's CG bonds (``K @ noise[0]``, :mod:`openmm_cgml.models.noise`: same variance per
   bead), and ``widen`` instead adds ``sigma_1 * noise[M - 1]`` (independent) to ``x'``;
4. ``v' = v + a dt``, ``x' = x + v' dt``;
5. annealed Langevin refinement with the score net over the noise ladder
   ``sigma_1 > ... > sigma_L`` (nm), ``steps_per_level`` steps each, step size
   ``alpha_l = step_size * (sigma_l / sigma_L)^2`` (nm^2)::

       x <- x + alpha_l / 2 * grad_log_p(x; sigma_l) + c * sqrt(alpha_l) * noise[j]

   (``c`` = ``noise_scale``, 1 for annealed Langevin; the same convention as
   ``CGModel.refine``, so an export with the model's own settings reproduces
   ``CGModel.step``)

   using the remaining draws ``noise[1:]`` in order, so ``M = 1 + L * steps_per_level``.

   Or (``sampler``) one step per level of a diffusion sampler that treats the candidate as the
   next frame blurred by noise ``sigma_1`` and walks it down the ladder to ``sigma = 0``
   (``sigma_{L+1} = 0``; denoised estimate ``x0 = x + sigma_l^2 * grad_log_p(x; sigma_l)``):

   - ``"ddim"`` (deterministic, eta = 0): ``x <- x0 + sigma_{l+1} / sigma_l * (x - x0)``;
     the last level returns the denoised estimate;
   - ``"ancestral"`` (reverse-SDE Euler step, variance exploding):
     ``x <- x + d * grad_log_p + sqrt(d) * noise[j]`` with ``d = sigma_l^2 - sigma_{l+1}^2``;
   - ``"posterior"`` (ancestral sampling with the Gaussian posterior's noise):
     ``x <- x + d * grad_log_p + sqrt(d) * sigma_{l+1} / sigma_l * noise[j]``: the same
     drift, less noise; it does not over-disperse the walk at coarse ladders;
   - ``"analytic"`` (the optimal reverse variance of Analytic-DPM): the posterior step's
     noise variance plus ``(d / sigma_l^2)^2 * Gamma``, ``Gamma = sigma_l^2 - sigma_l^4 *
     mean(grad_log_p^2)`` per molecule (its beads' mean, so a molecule's step does not depend
     on the batch): the uncertainty of the denoised estimate, which the posterior step
     neglects (it shrinks a density of finite width at coarse ladders).

   All use ``M = 1 + L`` draws (``"ddim"`` leaves them unused); correlated noise with
   ``widen`` uses one more (the last).

The module keeps the bead embeddings (computed once from the fine graph at export time),
the CG bonds, the bead masses and the ladder as buffers; it is a pure function of its
inputs. The neighbour search lives in the model's ``dynamics``/``score`` (plain torch).

With ``static_graph=True`` the module instead keeps every non-bonded pair of each molecule
(buffer ``pairs``, :func:`openmm_cgml.models.graph_ops.all_pairs`) and passes it to
``dynamics``/``score``: same step (to float rounding), but ``forward`` has fixed tensor
shapes and no host-device syncs, so the plugin may capture it in a CUDA graph (it reads the
plain attribute ``graph_safe``). The box is then not validated on the host: an unsupported
(triclinic) box gives NaN positions instead of an error.

``pair_capacity`` (static pairs only; 0 = off): before each network call keep only the
``pair_capacity`` static pairs that are closest in the positions of that call (a fixed-size
``topk``, still free of syncs). Pairs beyond the cutoff carry zero weight, so the step is
unchanged while the capacity holds every pair within the cutoff; past it, the pairs nearest
the cutoff (where the smooth envelope is close to 0) are dropped first. With many molecules
this is most of the work saved: villin has 528 of its 1,122 pairs within 1.2 nm.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from openmm_cgml.export.geometry import finite_difference_velocity
from openmm_cgml.models.config import SAMPLERS, noise_draws
from openmm_cgml.models.graph_ops import all_pairs, minimum_image_unchecked
from openmm_cgml.models.noise import correlation_entries
from openmm_cgml.models.sampling import diffusion_step, widened_std, x0_variance


class StepModule(torch.nn.Module):
    """Learned CG step specialised to fixed beads; see the module docstring for the maths.

    Args:
        model: an ``nn.Module`` with TorchScript-compatible ``dynamics`` and ``score`` methods
            following docs/CONTRACTS.md §5.
        bead_embeddings: ``[N, H]`` precomputed bead embeddings.
        bead_masses: ``[N]`` amu.
        cg_bonds: ``[2, E]`` int64 bead indices.
        batch: ``[N]`` int64 molecule index per bead (zeros for one molecule).
        history_length: k.
        timestep_ps: the model time step dt (ps).
        sigmas: noise ladder for the refinement, decreasing (nm); may be empty.
        steps_per_level: Langevin steps per ladder level.
        step_size: ``alpha`` at the smallest level (nm^2).
        noise_scale: factor on the Langevin noise term (1 = annealed Langevin, 0 = plain
            score ascent; the draws are consumed either way, so M is unchanged).
        score_is_scaled: True when ``model.score`` returns ``sigma * grad log p``
            (dimensionless) instead of ``grad log p`` (nm^-1).
        sampler: ``"langevin"`` (annealed Langevin, the default), ``"ddim"``,
            ``"ancestral"``, ``"posterior"`` or ``"analytic"`` (one step per level, see the module
            docstring).
        widen: sample the acceleration with ``sqrt(std^2 + (sigma_1 / dt^2)^2)`` instead of
            ``std`` (``ModelConfig.refine_widen``; only with a non-empty ladder).
        static_graph: pass the fixed pairs of :func:`~openmm_cgml.models.graph_ops.all_pairs`
            to ``model.dynamics``/``model.score`` (their ``pairs`` argument) instead of letting
            them search neighbours: CUDA-graph capturable, O(n^2) per molecule.
        pair_capacity: see the module docstring.
        network_dtype: the dtype of the model's dynamics/score weights, recorded as an
            attribute (the casting is done by the caller,
            :meth:`openmm_cgml.models.CGModel.set_network_dtype`); inputs, outputs and the
            integration stay in the dtype of ``bead_embeddings``.
        noise_correlation: ``lambda0`` of the bond-graph correlated acceleration noise
            (:mod:`openmm_cgml.models.noise`); 0 = independent per bead. Recorded as the
            attribute ``noise_correlation``.
    """

    # TorchScript constant: the branch not taken is not compiled, so a model whose
    # dynamics/score take no ``pairs`` argument still scripts with static_graph=False
    __constants__ = ["static_graph"]

    def __init__(
        self,
        model: torch.nn.Module,
        bead_embeddings: torch.Tensor,
        bead_masses: torch.Tensor,
        cg_bonds: torch.Tensor,
        batch: torch.Tensor,
        history_length: int,
        timestep_ps: float,
        sigmas: Sequence[float],
        steps_per_level: int,
        step_size: float,
        noise_scale: float = 1.0,
        score_is_scaled: bool = False,
        sampler: str = "langevin",
        widen: bool = False,
        static_graph: bool = False,
        pair_capacity: int = 0,
        network_dtype: str = "float32",
        noise_correlation: float = 0.0,
    ) -> None:
        super().__init__()
        n = int(bead_embeddings.shape[0])
        if bead_masses.shape != (n,):
            raise ValueError(f"bead_masses must have shape ({n},), got {tuple(bead_masses.shape)}")
        if bool((bead_masses <= 0).any()):
            raise ValueError("every bead mass must be positive (amu)")
        if history_length < 1:
            raise ValueError(f"history_length must be >= 1, got {history_length}")
        if not timestep_ps > 0:
            raise ValueError(f"timestep_ps must be > 0, got {timestep_ps}")
        sig = [float(s) for s in sigmas]
        if any(s <= 0 for s in sig) or any(a < b for a, b in zip(sig, sig[1:], strict=False)):
            raise ValueError(f"the noise ladder must be positive and decreasing, got {sig}")
        if sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
        if sampler != "langevin":
            steps_per_level = 1
        if sig and steps_per_level < 1:
            raise ValueError("steps_per_level must be >= 1 when a noise ladder is given")
        dtype = bead_embeddings.dtype
        self.model = model
        self.register_buffer("bead_embeddings", bead_embeddings.detach().clone())
        self.register_buffer("inv_mass", (1.0 / bead_masses.to(dtype)).reshape(n, 1))
        self.register_buffer("bead_masses", bead_masses.to(dtype).clone())
        self.register_buffer("cg_bonds", cg_bonds.to(torch.long).reshape(2, -1).clone())
        self.register_buffer("batch", batch.to(torch.long).clone())
        alphas = [step_size * (s / sig[-1]) ** 2 for s in sig]
        # the ladder lives where the model does (a CPU ladder beside CUDA weights fails)
        device = bead_embeddings.device
        self.register_buffer("sigmas", torch.tensor(sig, dtype=dtype, device=device))
        # drift factor alpha/2 and noise factor c*sqrt(alpha) per level
        self.register_buffer("alphas", torch.tensor([0.5 * a for a in alphas], dtype=dtype,
                                                    device=device))
        self.register_buffer("noise_scales", torch.tensor(
            [noise_scale * math.sqrt(a) for a in alphas], dtype=dtype, device=device))
        # the next lower level of each level (0 after the last) for the diffusion samplers
        self.register_buffer("next_sigmas", torch.tensor(sig[1:] + [0.0] if sig else [],
                                                         dtype=dtype, device=device))
        self.static_graph = bool(static_graph)
        if self.static_graph:
            self.register_buffer("pairs", all_pairs(self.batch, self.cg_bonds))
        if pair_capacity < 0:
            raise ValueError(f"pair_capacity must be >= 0 (0 = every pair), got {pair_capacity}")
        if pair_capacity and not self.static_graph:
            raise ValueError("pair_capacity needs static_graph=True (the radius search keeps "
                             "exactly the pairs within the cutoff)")
        # 0: every static pair; also when the capacity would keep them all anyway
        self.pair_capacity: int = (int(pair_capacity) if self.static_graph
                                   and 0 < pair_capacity < int(self.pairs.shape[1]) else 0)
        # Contract attributes: plain module attributes (not Final constants) so that
        # C++ can read them with module.attr("...").
        self.history_length: int = int(history_length)
        self.num_particles: int = n
        self.timestep_ps: float = float(timestep_ps)
        self.steps_per_level: int = int(steps_per_level) if sig else 0
        self.score_is_scaled: bool = bool(score_is_scaled)
        self.sampler: str = sampler
        self.sampler_code: int = SAMPLERS.index(sampler)
        self.widen: bool = bool(widen) and len(sig) > 0
        lam = float(noise_correlation)
        if not (lam >= 0 and math.isfinite(lam)):
            raise ValueError(f"noise_correlation must be a finite lambda0 >= 0 (0 = independent "
                             f"noise), got {noise_correlation}")
        self.noise_correlation: float = lam
        self.correlated: bool = lam > 0 and n > 0
        rows, cols, weights = correlation_entries(self.cg_bonds, self.batch, lam) \
            if self.correlated else (torch.zeros(0, dtype=torch.long),) * 2 + (torch.zeros(0),)
        self.register_buffer("noise_rows", rows.to(device))
        self.register_buffer("noise_cols", cols.to(device))
        self.register_buffer("noise_weights", weights.to(device=device, dtype=dtype))
        self.noise_draws: int = noise_draws(len(sig), self.steps_per_level, sampler,
                                            self.correlated and self.widen)
        self.num_molecules: int = int(batch.max().item()) + 1 if n else 0
        # beads per molecule (the analytic sampler's per-molecule mean), counted once
        self.register_buffer("molecule_beads", torch.bincount(
            self.batch, minlength=self.num_molecules).to(device=device, dtype=dtype))
        # informative: dtype of the dynamics/score weights (hidden features)
        self.network_dtype: str = str(network_dtype)
        # read by the plugin: the dtype it feeds the module with
        self.precision: str = "float64" if dtype == torch.float64 else "float32"
        # read by the plugin: forward has fixed shapes and no host syncs (CUDA-graph safe)
        self.graph_safe: bool = self.static_graph

    def nearest_pairs(self, pos: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        """The static pairs ([2, P]) or, with ``pair_capacity``, the ``pair_capacity`` of
        them closest in ``pos`` [N, 3] nm (minimum image in ``cell`` [3, 3] nm), unordered."""
        if self.pair_capacity == 0:
            return self.pairs
        d = minimum_image_unchecked(pos[self.pairs[0]] - pos[self.pairs[1]], cell)
        keep = torch.topk((d * d).sum(-1), self.pair_capacity, largest=False,
                          sorted=False).indices
        return self.pairs[:, keep]

    def forward(
        self,
        history: torch.Tensor,
        noise: torch.Tensor,
        external_force: torch.Tensor,
        box: torch.Tensor,
    ) -> torch.Tensor:
        k = self.history_length
        n = self.num_particles
        if history.dim() != 3 or history.shape[0] != k or history.shape[1] != n \
                or history.shape[2] != 3:
            raise ValueError(
                f"history must have shape [{k}, {n}, 3] (k frames, N beads, xyz in nm), "
                f"got {list(history.shape)}")
        if noise.dim() != 3 or noise.shape[0] < self.noise_draws or noise.shape[1] != n \
                or noise.shape[2] != 3:
            raise ValueError(
                f"noise must have shape [{self.noise_draws}, {n}, 3], got {list(noise.shape)}")
        if external_force.shape != history.shape[1:]:
            raise ValueError(
                f"external_force must have shape [{n}, 3], got {list(external_force.shape)}")
        if box.shape != (3, 3):
            raise ValueError(f"box must have shape [3, 3], got {list(box.shape)}")
        out_dtype = history.dtype
        dtype = self.bead_embeddings.dtype
        hist = history.to(dtype)
        eps = noise.to(dtype)
        fext = external_force.to(dtype)
        cell = box.to(dtype)
        dt = self.timestep_ps

        velocity = finite_difference_velocity(hist, cell, dt)
        if self.static_graph:
            mean, std, latent = self.model.dynamics(
                self.bead_embeddings, hist, self.cg_bonds, self.batch, cell,
                self.nearest_pairs(hist[-1], cell))
        else:
            mean, std, latent = self.model.dynamics(
                self.bead_embeddings, hist, self.cg_bonds, self.batch, cell)
        e0 = eps[0]
        if self.correlated:
            e0 = torch.zeros_like(e0).index_add_(
                0, self.noise_rows, self.noise_weights.unsqueeze(-1) * e0[self.noise_cols])
        elif self.widen:
            std = widened_std(std, self.sigmas[0] / (dt * dt))
        accel = mean + std * e0 + fext * self.inv_mass
        new_velocity = velocity + accel * dt
        x = hist[-1] + new_velocity * dt
        if self.correlated and self.widen:
            x = x + self.sigmas[0] * eps[self.noise_draws - 1]

        x = self.refine(x, latent, hist, cell, eps)
        return x.to(out_dtype)

    @torch.jit.export
    def refine(self, x: torch.Tensor, latent: torch.Tensor, history: torch.Tensor,
               box: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Walk a candidate ``x`` [N, 3] nm down this module's ladder (step 5 of ``forward``).

        ``latent`` [N, H] from the model's ``dynamics``; ``history`` [k, N, 3] nm; ``box``
        [3, 3] nm; ``noise`` [M, N, 3] the step's draws (the walk uses ``noise[1:]`` in
        order). In the module's dtype; returns [N, 3] nm.
        """
        j = 1
        for level in range(self.sigmas.shape[0]):
            sigma = self.sigmas[level]
            alpha = self.alphas[level]
            scale = self.noise_scales[level]
            for _ in range(self.steps_per_level):
                if self.static_graph:
                    s = self.model.score(x, sigma, latent, history, self.cg_bonds, self.batch,
                                         box, self.nearest_pairs(x, box))
                else:
                    s = self.model.score(x, sigma, latent, history, self.cg_bonds, self.batch,
                                         box)
                if self.score_is_scaled:
                    s = s / sigma
                if self.sampler_code == 0:
                    x = x + alpha * s + scale * noise[j]
                else:
                    x0_var: torch.Tensor | None = None
                    if self.sampler_code == 4:
                        x0_var = x0_variance(s, sigma, self.batch, self.molecule_beads)
                    x = diffusion_step(x, s, sigma, self.next_sigmas[level], self.sampler_code,
                                       noise[j], x0_var)
                j += 1
        return x
