"""``CGModel``: Embedding + Dynamics + Score networks, the loss, and one inference step.

Conventions (CONTRACTS.md section 5): positions nm, time ps, accelerations nm/ps^2,
masses amu, scores nm^-1. ``history`` [k, N, 3] holds the last k bead frames, oldest
first; velocities are finite differences ``v_t = (x_t - x_{t-1}) / dt`` (k - 1 of them),
the target acceleration of a window is ``(x_k - 2 x_{k-1} + x_{k-2}) / dt^2`` and one
step integrates ``v' = v + a dt, x' = x + v' dt``.

The model can be compiled with ``torch.jit.script(model)``; the exported methods are
``embed``, ``dynamics``, ``score``, ``refine`` and ``step``. The training-only methods
(``forward``/``loss``, ``sample_loss_noise``) are left out of TorchScript.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from openmm_cgml.datasets.graph import GraphBatch
from openmm_cgml.models.config import SAMPLERS, ModelConfig
from openmm_cgml.models.graph_ops import (
    minimum_image,
    minimum_image_unchecked,
    scatter_mean,
    scatter_sum,
)
from openmm_cgml.models.layers import MLP
from openmm_cgml.models.networks import (
    EmbeddingNet,
    EquivariantDynamicsNet,
    EquivariantScoreNet,
    PlainDynamicsNet,
    PlainScoreNet,
)
from openmm_cgml.models.sampling import diffusion_step, widened_std, x0_variance

#: accepted names of :meth:`CGModel.set_network_dtype` dtypes
NETWORK_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16,
                  "float16": torch.float16}

#: keys of the statistics dict that the model needs (see ``compute_statistics``)
REQUIRED_STATISTICS = ("dt", "velocity_rms", "acceleration_rms", "displacement_rms")


class CGModel(nn.Module):
    """The three-network CG model.

    Args:
        config: architecture and loss settings.
        statistics: normalisation scales from
            :func:`openmm_cgml.datasets.compute_statistics` (``dt`` ps, ``velocity_rms``
            nm/ps, ``acceleration_rms`` nm/ps^2, ``displacement_rms`` nm). Stored as
            buffers (so they travel in ``model.safetensors``) and in ``self.statistics``.
    """

    __jit_unused_properties__ = ["timestep_ps", "network_dtype"]

    def __init__(self, config: ModelConfig, statistics: dict[str, float] | None = None) -> None:
        super().__init__()
        config.validate()
        self.config = config
        h = config.hidden
        num_vel = config.history_length - 1
        self.history_length = int(config.history_length)
        self.noise_draws = int(config.noise_draws)
        self.refine_levels = int(config.refine_levels)
        self.refine_steps = int(config.refine_steps)
        self.refine_step_size = float(config.refine_step_size)
        self.refine_noise = float(config.refine_noise)
        self.sampler_code = SAMPLERS.index(config.refine_sampler)
        self.refine_widen = bool(config.refine_widen)
        self.embedding = EmbeddingNet(h, config.embed_layers, config.element_vocab,
                                      config.residue_vocab, config.role_vocab,
                                      config.bond_vocab, config.pool)
        if config.family == "plain":
            self.dynamics_net: nn.Module = PlainDynamicsNet(
                h, config.layers, num_vel, config.num_rbf, config.cutoff_nm,
                config.avg_neighbors, config.min_std)
            self.score_net: nn.Module = PlainScoreNet(
                h, config.score_layers, config.num_rbf, config.cutoff_nm, config.avg_neighbors)
        else:
            self.dynamics_net = EquivariantDynamicsNet(
                h, config.layers, num_vel, config.num_rbf, config.cutoff_nm,
                config.avg_neighbors, config.min_std)
            self.score_net = EquivariantScoreNet(
                h, config.score_layers, config.num_rbf, config.cutoff_nm, config.avg_neighbors)
        # training-only horizons (ModelConfig.drift_windows / rollout_steps)
        self.drift_horizon = config.drift_windows
        self.rollout_horizon = config.rollout_steps
        self.training_horizon = config.training_horizon
        self.use_rg = config.rg_weight > 0
        self.rg_head = MLP(h, h, 1) if self.use_rg else nn.Identity()
        self.register_buffer("sigmas", torch.tensor(config.sigmas(), dtype=torch.float32))
        # derived from the config (not stored in checkpoints): the refinement ladder
        self.register_buffer("refine_sigmas", torch.tensor(config.refine_sigmas(),
                                                           dtype=torch.float32),
                             persistent=False)
        self.register_buffer("dt", torch.tensor(1.0))
        self.register_buffer("velocity_rms", torch.tensor(1.0))
        self.register_buffer("acceleration_rms", torch.tensor(1.0))
        self.register_buffer("displacement_rms", torch.tensor(1.0))
        self.statistics: dict[str, float] = {}
        if statistics is not None:
            self.set_statistics(statistics)

    # -- statistics ----------------------------------------------------------------------
    @torch.jit.unused
    def set_statistics(self, statistics: dict[str, float]) -> None:
        """Store normalisation scales (see class docstring); raises on missing/bad values."""
        missing = [k for k in REQUIRED_STATISTICS if k not in statistics]
        if missing:
            raise ValueError(f"statistics lack {missing} (use datasets.compute_statistics)")
        for key in REQUIRED_STATISTICS:
            value = float(statistics[key])
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"statistics[{key!r}] must be a positive number (got {value})")
            getattr(self, key).fill_(value)
        k = statistics.get("history_length")
        if k is not None and int(k) != self.history_length:
            raise ValueError(f"statistics were computed with history_length={int(k)}, the model "
                             f"uses {self.history_length}")
        self.statistics = {k: float(v) for k, v in statistics.items()}

    @property
    @torch.jit.unused
    def timestep_ps(self) -> float:
        """Model time step (ps) = the dataset's frame spacing."""
        return float(self.dt)

    # -- precision -----------------------------------------------------------------------
    @torch.jit.unused
    def set_network_dtype(self, dtype: torch.dtype) -> CGModel:
        """Keep the weights of the dynamics and score networks in ``dtype`` (in place).

        ``torch.float32`` (trained), ``torch.bfloat16`` or ``torch.float16``: those networks
        then compute their hidden features in ``dtype`` while positions, pair geometry
        (radial basis, cutoff envelope), accelerations and scores stay in the dtype of the
        inputs, so the integrator's arithmetic is unchanged. Meant for inference on a GPU,
        where the per-pair tensors dominate the step's memory traffic; the embedding net
        stays float32 (it runs once per structure). Returns ``self``.
        """
        if dtype not in NETWORK_DTYPES.values():
            raise ValueError(f"network dtype must be one of {', '.join(NETWORK_DTYPES)}, "
                             f"got {dtype}")
        for net in (self.dynamics_net, self.score_net):
            for param in net.parameters():
                param.data = param.data.to(dtype)
        return self

    @property
    @torch.jit.unused
    def network_dtype(self) -> torch.dtype:
        """dtype of the dynamics/score network weights (see :meth:`set_network_dtype`)."""
        return next(self.score_net.parameters()).dtype

    # -- networks ------------------------------------------------------------------------
    @torch.jit.export
    def embed(self, atom_element: Tensor, atom_residue: Tensor, atom_role: Tensor,
              atom_mass: Tensor, atom_bonds: Tensor, bond_types: Tensor, atom_to_bead: Tensor,
              num_beads: int) -> Tensor:
        """Bead embeddings [N, H] from the fine graph (atoms [A], bonds [2, B])."""
        return self.embedding(atom_element, atom_residue, atom_role, atom_mass, atom_bonds,
                              bond_types, atom_to_bead, num_beads)

    def _velocities(self, history: Tensor, box: Tensor, checked: bool = True) -> Tensor:
        """Normalised finite-difference velocities [N, k-1, 3]; ``checked=False`` uses the
        sync-free minimum image (no host-side box validation)."""
        dx = history[1:] - history[:-1]
        dx = minimum_image(dx, box) if checked else minimum_image_unchecked(dx, box)
        return (dx / (self.dt * self.velocity_rms)).permute(1, 0, 2)

    @torch.jit.export
    def dynamics(self, bead_emb: Tensor, history: Tensor, cg_bonds: Tensor, batch: Tensor,
                 box: Tensor, pairs: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """Gaussian over the next acceleration.

        Args: bead_emb [N, H]; history [k, N, 3] nm; cg_bonds int64 [2, E]; batch [N];
        box [3, 3] nm (zeros = no PBC); pairs: optional int64 [2, P] static non-bonded
        pairs (:func:`~openmm_cgml.models.graph_ops.all_pairs`) replacing the radius search:
        same result, fixed shapes, no host-device sync (the box is then not validated).
        Returns: mean [N, 3] and std [N, 3] in nm/ps^2, latent [N, H].
        """
        if history.shape[0] != self.history_length:
            raise RuntimeError("history must hold history_length frames")
        vel = self._velocities(history, box, pairs is None)
        mean, std, latent = self.dynamics_net(bead_emb, history[-1], vel, cg_bonds, batch, box,
                                              pairs)
        return mean * self.acceleration_rms, std * self.acceleration_rms, latent

    @torch.jit.export
    def score(self, x: Tensor, sigma: Tensor, latent: Tensor, history: Tensor, cg_bonds: Tensor,
              batch: Tensor, box: Tensor, pairs: Tensor | None = None) -> Tensor:
        """Score of the next-position density at noise level ``sigma``.

        Args: x [N, 3] nm (noisy next positions); sigma (nm) scalar tensor or [N];
        latent [N, H] from :meth:`dynamics`; history [k, N, 3] nm; cg_bonds, batch, box;
        pairs: optional static pairs, as in :meth:`dynamics`.
        Returns: [N, 3] approximation of grad_x log p_sigma(x | history), nm^-1.
        """
        sig = sigma.to(x.dtype).reshape(-1)
        if sig.shape[0] == 1:
            sig = sig.expand(x.shape[0])
        vel = self._velocities(history[-2:], box, pairs is None)[:, 0]
        return self.score_net(x, sig, latent, history[-1], vel, cg_bonds, batch, box,
                              self.displacement_rms.to(x.dtype), pairs)

    @torch.jit.export
    def refine(self, x: Tensor, latent: Tensor, history: Tensor, cg_bonds: Tensor, batch: Tensor,
               box: Tensor, noise: Tensor) -> Tensor:
        """Walk the candidate ``x`` [N, 3] nm down the refinement ladder (``refine_sigmas``).

        ``refine_sampler`` "langevin": annealed Langevin,
        ``x <- x + a/2 * score + refine_noise * sqrt(a) * z`` with
        ``a = refine_step_size * (sigma / sigma_last)^2``, ``refine_steps`` steps per level.
        "ddim" / "ancestral" / "posterior" / "analytic": one diffusion-sampler step per level
        down to sigma = 0, the same maths as ``openmm_cgml.export.step``. ``noise`` [draws, N, 3]
        supplies the standard-normal draws z in order.
        """
        total = self.refine_sigmas.shape[0]
        sigma_min = self.refine_sigmas[total - 1]
        draw = 0
        beads = torch.bincount(batch) if self.sampler_code == 4 else batch[:0]
        # pairs=None is passed explicitly: TorchScript ignores default arguments on calls
        # between methods of one module
        for lev in range(total):
            sigma = self.refine_sigmas[lev].to(x.dtype)
            if self.sampler_code != 0:
                nxt = self.refine_sigmas[lev + 1].to(x.dtype) if lev + 1 < total \
                    else torch.zeros_like(sigma)
                s = self.score(x, sigma, latent, history, cg_bonds, batch, box, None)
                x0_var: Tensor | None = None
                if self.sampler_code == 4:
                    x0_var = x0_variance(s, sigma, batch, beads)
                x = diffusion_step(x, s, sigma, nxt, self.sampler_code, noise[draw], x0_var)
                draw += 1
                continue
            alpha = self.refine_step_size * (sigma / sigma_min) ** 2
            for _ in range(self.refine_steps):
                s = self.score(x, sigma, latent, history, cg_bonds, batch, box, None)
                x = x + 0.5 * alpha * s + self.refine_noise * torch.sqrt(alpha) * noise[draw]
                draw += 1
        return x

    @torch.jit.export
    def step(self, bead_emb: Tensor, history: Tensor, noise: Tensor, cg_bonds: Tensor,
             batch: Tensor, box: Tensor, external_accel: Tensor) -> Tensor:
        """One model time step: next positions [N, 3] nm.

        Args: bead_emb [N, H]; history [k, N, 3] nm; noise [noise_draws, N, 3] standard
        normal (noise[0] samples the acceleration, the rest drive the refinement);
        external_accel [N, 3] nm/ps^2 added to the sampled acceleration (F / m with F in
        kJ/mol/nm and m in amu; zeros if none).
        """
        if noise.shape[0] < self.noise_draws:
            raise RuntimeError("noise must hold noise_draws standard-normal frames")
        mean, std, latent = self.dynamics(bead_emb, history, cg_bonds, batch, box, None)
        dt = self.dt.to(history.dtype)
        refine = self.refine_levels > 0 and (self.sampler_code != 0 or self.refine_steps > 0)
        if refine and self.refine_widen:
            std = widened_std(std, self.refine_sigmas[0].to(std.dtype) / (dt * dt))
        acc = mean + std * noise[0] + external_accel
        v = minimum_image(history[-1] - history[-2], box) / dt
        x = history[-1] + (v + acc * dt) * dt
        if refine:
            x = self.refine(x, latent, history, cg_bonds, batch, box, noise[1:])
        return x

    # -- training ------------------------------------------------------------------------
    @torch.jit.unused
    def sample_loss_noise(self, batch: GraphBatch,
                          generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Random draws of one loss evaluation (on the batch's device and dtype).

        ``aug_sigma`` [G] input-noise level (nm), ``aug_noise`` [k, N, 3] (unit variance;
        correlated between frames by ``input_noise_correlation``), ``dsm_level`` int64 [G]
        noise-ladder index, ``dsm_noise`` [N, 3]; with ``drift_weight > 0`` also
        ``aug_noise_more`` [drift_horizon - 1, k, N, 3], the input noise of the later
        sub-windows; with ``rollout_weight > 0`` also ``rollout_noise``
        [rollout_horizon, 2, N, 3], the draws of the two rollouts of the rollout score.
        Passing them to :meth:`loss` explicitly makes a loss evaluation reproducible and
        lets a batch be split across processes with identical draws.
        """
        cfg = self.config
        g, n, k = batch.num_graphs, batch.num_beads, self.history_length
        dev, dtype = batch.frames.device, batch.frames.dtype

        def rand(*shape: int) -> Tensor:
            return torch.rand(*shape, generator=generator, device="cpu").to(dev, dtype)

        def randn(*shape: int) -> Tensor:
            return torch.randn(*shape, generator=generator, device="cpu").to(dev, dtype)

        lo, hi = cfg.input_noise_min, cfg.input_noise_max
        if hi > 0:
            log_lo = math.log(max(lo, hi * 1e-6))
            u = rand(g)
            aug = torch.exp(log_lo + u * (math.log(hi) - log_lo)) * float(self.displacement_rms)
        else:
            aug = torch.zeros(g, device=dev, dtype=dtype)
        level = torch.randint(0, self.sigmas.shape[0], (g,), generator=generator,
                              device="cpu").to(dev)
        out = {"aug_sigma": aug, "aug_noise": randn(k, n, 3), "dsm_level": level,
               "dsm_noise": randn(n, 3)}
        rho = float(cfg.input_noise_correlation)
        if rho > 0:  # drawn last: rho = 0 keeps the draws of earlier versions
            common = randn(n, 3)
            out["aug_noise"] = math.sqrt(rho) * common + math.sqrt(1 - rho) * out["aug_noise"]
        m = self.drift_horizon
        if m > 1:  # the input noise of sub-windows 2..m, drawn after all of the above
            more = randn(m - 1, k, n, 3)
            if rho > 0:
                more = math.sqrt(rho) * randn(m - 1, 1, n, 3) + math.sqrt(1 - rho) * more
            out["aug_noise_more"] = more
        if self.rollout_horizon > 0:  # drawn after all of the above
            out["rollout_noise"] = randn(self.rollout_horizon, 2, n, 3)
        return out

    @torch.jit.unused
    def forward(self, batch: GraphBatch, noise: dict[str, Tensor] | None = None,
                generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Same as :meth:`loss` (so that DistributedDataParallel sees a forward call)."""
        return self.loss(batch, noise, generator)

    @torch.jit.unused
    def loss(self, batch: GraphBatch, noise: dict[str, Tensor] | None = None,
             generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Training loss of a batch of windows.

        ``nll``: Gaussian negative log-likelihood of the target acceleration in normalised
        units (per component, averaged over beads, then over molecules);
        ``dsm``: denoising score matching ``|sigma * score + eps|^2 / 3`` at a ladder level
        drawn per molecule; ``rg`` (if ``rg_weight > 0``): squared error of the predicted
        log radius of gyration of the next frame; ``total``: weighted sum.
        Input noise augmentation (training mode only): every history frame gets Gaussian
        noise of a per-molecule sigma and the target acceleration is recomputed from the
        noisy history so that it still leads to the true next frame.
        Also returns ``mse_acc`` (normalised mean-acceleration error, for monitoring).
        """
        k, m = self.history_length, self.drift_horizon
        if batch.frames.shape[0] < k + self.training_horizon:
            raise ValueError(f"batch has {batch.frames.shape[0]} frames per window, the model "
                             f"needs history_length + training horizon = "
                             f"{k + self.training_horizon}")
        if noise is None:
            noise = self.sample_loss_noise(batch, generator)
        self._check_vocab(batch)
        cfg = self.config
        g, n = batch.num_graphs, batch.num_beads
        frames = batch.frames
        # m consecutive one-step windows (m = 1 unless the drift term is on), stacked as m
        # copies of the batch's graph: one network call for all of them
        hists = [frames[j:j + k] for j in range(m)]
        targets = [frames[k + j] for j in range(m)]
        if self.training:
            sig = noise["aug_sigma"][batch.batch].reshape(1, -1, 1)
            hists = [h + sig * (noise["aug_noise"] if j == 0 else noise["aug_noise_more"][j - 1])
                     for j, h in enumerate(hists)]
        dt = float(batch.dt)
        if abs(dt - float(self.dt)) > 1e-6 * float(self.dt):
            raise ValueError(f"batch time step {dt} ps differs from the model's {float(self.dt)} "
                             "ps (statistics of another dataset?)")
        emb = self.embed(batch.atom_element, batch.atom_residue, batch.atom_role,
                         batch.atom_mass, batch.atom_bonds, batch.bond_types,
                         batch.atom_to_bead, batch.num_beads)
        if m == 1:
            hist_all, target_all, emb_all = hists[0], targets[0], emb
            bonds_all, batch_all = batch.cg_bonds, batch.batch
        else:
            hist_all, target_all = torch.cat(hists, dim=1), torch.cat(targets, dim=0)
            emb_all = emb.repeat(m, 1)
            bonds_all = torch.cat([batch.cg_bonds + j * n for j in range(m)], dim=1)
            batch_all = torch.cat([batch.batch + j * g for j in range(m)])
        mean, std, latent = self.dynamics(emb_all, hist_all, bonds_all, batch_all, batch.box)
        mean, std = mean.to(frames.dtype), std.to(frames.dtype)  # full precision under autocast
        acc = minimum_image(target_all - 2 * hist_all[-1] + hist_all[-2], batch.box) / dt ** 2
        scale = self.acceleration_rms
        z = (acc - mean) / std
        nll_c = 0.5 * z * z + torch.log(std / scale) + 0.5 * math.log(2 * math.pi)
        per_bead = nll_c.mean(-1)
        nll = scatter_mean(per_bead, batch_all, g * m).mean()
        mse = scatter_mean((((acc - mean) / scale) ** 2).mean(-1), batch_all, g * m).mean()
        out = {"nll": nll, "mse_acc": mse}
        total = cfg.nll_weight * nll
        if m > 1:
            # standardised residuals summed over the m consecutive steps (std not trained by
            # this term): a calibrated, unbiased mean gives 1 per component in expectation
            zs = ((acc - mean) / std.detach()).reshape(m, n, 3).sum(0)
            drift = scatter_mean((zs * zs).mean(-1) / m, batch.batch, g).mean()
            out["drift"] = drift
            total = total + cfg.drift_weight * drift
        if self.rollout_horizon > 0:
            roll = self._rollout_score(emb, frames, batch, noise["rollout_noise"])
            out["rollout"] = roll
            total = total + cfg.rollout_weight * roll
        # the score and Rg terms use the first sub-window only
        latent = latent[:n]
        hist, target = hists[0], targets[0]
        if cfg.dsm_weight > 0:
            sigma = self.sigmas.to(frames.dtype)[noise["dsm_level"]][batch.batch]
            eps = noise["dsm_noise"]
            x_noisy = target + sigma.unsqueeze(-1) * eps
            s = self.score(x_noisy, sigma, latent, hist, batch.cg_bonds, batch.batch,
                           batch.box).to(frames.dtype)
            dsm_b = ((sigma.unsqueeze(-1) * s + eps) ** 2).mean(-1)
            dsm = scatter_mean(dsm_b, batch.batch, g).mean()
            out["dsm"] = dsm
            total = total + cfg.dsm_weight * dsm
        if self.use_rg:
            pooled = scatter_mean(latent, batch.batch, g)
            pred = self.rg_head(pooled).squeeze(-1).to(frames.dtype)
            rg = _graph_rg(target, batch.bead_masses.to(frames.dtype), batch.batch, g)
            rg_loss = ((pred - torch.log(rg)) ** 2).mean()
            out["rg"] = rg_loss
            total = total + cfg.rg_weight * rg_loss
        out["total"] = total
        return out

    @torch.jit.unused
    def _rollout_score(self, emb: Tensor, frames: Tensor, batch: GraphBatch,
                       noise: Tensor) -> Tensor:
        """The rollout score of ``ModelConfig.rollout_horizon`` (dimensionless, >= 0; a
        perfect model does not reach 0 but ``E|X - X'| / 2``, the spread of the reference).

        Two Gaussian rollouts from the true history ``frames[:k]`` [k, N, 3] nm run as two
        disjoint copies of the batch's graph (one network call per step); ``noise``
        [R, 2, N, 3] holds their standard-normal draws.
        """
        k, r_steps = self.history_length, self.rollout_horizon
        g, n = batch.num_graphs, batch.num_beads
        dt = self.dt.to(frames.dtype)
        emb2 = emb.repeat(2, 1)
        bonds2 = torch.cat([batch.cg_bonds, batch.cg_bonds + n], dim=1)
        batch2 = torch.cat([batch.batch, batch.batch + g])
        masses = batch.bead_masses.to(frames.dtype)
        beads = scatter_sum(torch.ones_like(masses), batch.batch, g)
        hist = frames[:k].repeat(1, 2, 1)  # [k, 2N, 3]
        unit = self.displacement_rms.to(frames.dtype)
        total = frames.new_zeros(())
        for j in range(r_steps):
            mean, std, _ = self.dynamics(emb2, hist, bonds2, batch2, batch.box)
            mean, std = mean.to(frames.dtype), std.to(frames.dtype)
            acc = mean + std.detach() * noise[j].reshape(2 * n, 3)
            v = minimum_image(hist[-1] - hist[-2], batch.box) / dt
            x = hist[-1] + (v + acc * dt) * dt
            hist = torch.cat([hist[1:], x.unsqueeze(0)])
            y = frames[k + j]
            x1, x2 = x[:n], x[n:]
            scale = unit * math.sqrt(j + 1)
            # per bead: energy score of the 3-D position, averaged over a molecule's beads
            es = 0.5 * (_norm(x1 - y) + _norm(x2 - y)) - 0.5 * _norm(x1 - x2)
            bead_term = scatter_mean(es / scale, batch.batch, g)
            # per molecule: the same score on the radius of gyration
            rg1, rg2 = (_graph_rg(xi, masses, batch.batch, g) for xi in (x1, x2))
            rgy = _graph_rg(y, masses, batch.batch, g)
            crps = 0.5 * ((rg1 - rgy).abs() + (rg2 - rgy).abs()) - 0.5 * (rg1 - rg2).abs()
            total = total + (bead_term + crps * beads.sqrt() / scale).mean()
        return total / r_steps

    @torch.jit.unused
    def _check_vocab(self, batch: GraphBatch) -> None:
        cfg = self.config
        for name, tensor, field_name in (("element", batch.atom_element, "element_vocab"),
                                         ("residue", batch.atom_residue, "residue_vocab"),
                                         ("role", batch.atom_role, "role_vocab"),
                                         ("bond type", batch.bond_types, "bond_vocab")):
            size = int(getattr(cfg, field_name))
            if tensor.numel() and (int(tensor.max()) >= size or int(tensor.min()) < 0):
                raise ValueError(f"atom {name} index {int(tensor.max())} is outside the model's "
                                 f"vocabulary of {size}; raise ModelConfig.{field_name}")

    # -- conveniences ----------------------------------------------------------------------
    @torch.jit.unused
    def num_parameters(self) -> dict[str, int]:
        """Parameter counts per network and in total."""
        def count(m: nn.Module) -> int:
            return sum(p.numel() for p in m.parameters())
        return {"embedding": count(self.embedding), "dynamics": count(self.dynamics_net),
                "score": count(self.score_net), "rg_head": count(self.rg_head),
                "total": count(self)}

    @torch.jit.unused
    def describe(self) -> dict[str, Any]:
        return {"config": self.config.to_dict(), "statistics": self.statistics,
                "parameters": self.num_parameters()}


def _norm(x: Tensor) -> Tensor:
    """Euclidean norm over the last axis, smooth at 0 (finite gradient)."""
    return torch.sqrt((x * x).sum(-1) + 1e-12)


def _graph_rg(x: Tensor, masses: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
    """Mass-weighted radius of gyration [G] (nm) of the molecules of ``x`` [N, 3] nm."""
    msum = scatter_sum(masses, batch, num_graphs)
    com = scatter_sum(x * masses.unsqueeze(-1), batch, num_graphs) / msum.unsqueeze(-1)
    r2 = scatter_sum(((x - com[batch]) ** 2).sum(-1) * masses, batch, num_graphs)
    return torch.sqrt(r2 / msum + 1e-12)
