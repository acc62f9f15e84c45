"""``ModelConfig``: every hyper-parameter of a :class:`~openmm_cgml.models.CGModel`."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

FAMILIES = ("plain", "equivariant")
#: refinement samplers (``ModelConfig.refine_sampler``); index = the step module's sampler_code
SAMPLERS = ("langevin", "ddim", "ancestral", "posterior", "analytic")


def noise_draws(levels: int, steps_per_level: int, sampler: str,
                correlated_widen: bool = False) -> int:
    """Standard-normal draws [M, N, 3] one model step consumes: 1 for the acceleration plus
    one per refinement step (``steps_per_level`` per level for Langevin, one per level for
    the diffusion samplers), plus 1 for the independent widening of a step with correlated
    noise (``correlated_widen``: noise correlation > 0 and widen, with a ladder)."""
    if levels <= 0:
        return 1
    return 1 + levels * (steps_per_level if sampler == "langevin" else 1) + int(correlated_widen)


def coerce_numbers(obj: Any, where: str) -> None:
    """Convert int/float/bool dataclass fields given as strings or other numbers in place.

    YAML 1.1 reads ``1e-3`` (no dot) as a string; this accepts it and raises a
    ``ValueError`` naming the field for anything that is not a number.
    """
    kinds = {"int": int, "float": float, "bool": bool}
    for f in dataclasses.fields(obj):
        kind = kinds.get(str(f.type))
        value = getattr(obj, f.name)
        if kind is None or isinstance(value, kind) and not (kind is int
                                                             and isinstance(value, bool)):
            continue
        try:
            if kind is bool:
                if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no"):
                    value = value.lower() in ("true", "yes")
                elif isinstance(value, (int, float)) and value in (0, 1):
                    value = bool(value)
                else:
                    raise ValueError
            elif kind is int:
                as_float = float(value)
                if not as_float.is_integer():
                    raise ValueError
                value = int(as_float)
            else:
                value = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{where}.{f.name}: expected {kind.__name__}, got {value!r}") from None
        setattr(obj, f.name, value)


def geometric_sigmas(sigma_max: float, sigma_min: float, levels: int) -> list[float]:
    """``levels`` geometric noise levels from ``sigma_max`` down to ``sigma_min`` (nm)."""
    if levels <= 0:
        return []
    if levels == 1:
        return [float(sigma_max)]
    r = (sigma_min / sigma_max) ** (1.0 / (levels - 1))
    return [float(sigma_max * r ** i) for i in range(levels)]


def refinement_ladder(sigma_max: float, sigma_min: float, noise_levels: int,
                      refine_levels: int, refine_sigma_max: float = 0.0) -> list[float]:
    """Noise levels of the Langevin refinement, largest first (nm).

    ``refine_sigma_max > 0``: ``refine_levels`` geometric levels from it to ``sigma_min``;
    otherwise the ``refine_levels`` smallest levels of the training ladder."""
    if refine_levels <= 0:
        return []
    if refine_sigma_max > 0:
        return geometric_sigmas(refine_sigma_max, sigma_min, refine_levels)
    ladder = geometric_sigmas(sigma_max, sigma_min, noise_levels)
    return ladder[len(ladder) - refine_levels:]


#: ModelConfig fields the weights depend on (see ``ModelConfig.architecture``)
ARCHITECTURE_KEYS = ("family", "hidden", "layers", "score_layers", "embed_layers",
                     "history_length", "cutoff_nm", "num_rbf", "avg_neighbors", "min_std",
                     "sigma_max", "sigma_min", "noise_levels", "element_vocab",
                     "residue_vocab", "role_vocab", "bond_vocab", "pool")


@dataclass
class ModelConfig:
    """Architecture and loss settings (stored as ``config.json`` in every checkpoint).

    Units: lengths nm, times ps. ``min_std`` and the input-noise fractions are in
    normalised units (fractions of the dataset's acceleration / displacement RMS).

    Attributes:
        family: ``"plain"`` (non-equivariant GNNs of the method) or ``"equivariant"``
            (PaiNN-style scalar + vector messages for dynamics and score).
        hidden: latent width H.
        layers: message-passing layers of the dynamics net.
        score_layers: message-passing layers of the score net.
        embed_layers: message-passing layers of the embedding net (fine graph).
        history_length: k frames (k - 1 finite-difference velocities).
        cutoff_nm: radius-edge cutoff (nm); CG bonds are edges at any length.
        num_rbf: radial basis functions on [0, cutoff].
        avg_neighbors: messages are summed and divided by this constant.
        min_std: lower bound of the predicted std (normalised acceleration units).
        sigma_max, sigma_min, noise_levels: geometric score noise ladder (nm).
        refine_levels: number of levels of the Langevin refinement ladder.
        refine_sigma_max: top of the refinement ladder (nm): ``refine_levels`` geometric levels
            from it down to ``sigma_min``; it should match the spread of the sampled positions
            (std * dt^2). 0 = the ``refine_levels`` smallest sigmas of the training ladder.
        refine_sampler: how the refinement walks its ladder: ``"langevin"`` (annealed
            Langevin, ``refine_steps`` steps per level, the method's original), ``"ddim"``
            (deterministic diffusion sampler, one score call per level), ``"ancestral"``
            (reverse-SDE Euler sampler, one call per level), ``"posterior"`` (ancestral
            sampling with the Gaussian posterior's smaller noise, one call per level) or
            ``"analytic"`` (the posterior step with the analytic reverse variance, estimated
            per molecule from the score: one call per level); see
            ``openmm_cgml.export.step``.
        refine_widen: widen the sampled Gaussian by the ladder top before refining: the
            acceleration noise becomes ``sqrt(std^2 + (sigma_1 / dt^2)^2)``, so that the
            candidate is a sample of the sigma_1-blurred next-frame density the score net
            was trained on, and the sampler's walk down the ladder keeps the spread of the
            dynamics (without it a deterministic sampler shrinks every step's fluctuation).
        noise_correlation: ``lambda0`` of the bond-graph correlation of the sampled
            acceleration noise (:mod:`openmm_cgml.models.noise`; applied by the exported
            step module): each bead keeps its variance, collective modes of the CG bond graph
            (Laplacian eigenvalue << lambda0) get more of it, bond stretching less. 0 =
            independent per bead (the method's diagonal Gaussian; the default). Fitted after
            training by maximum likelihood on training residuals (``cgml fit-noise``); on the
            polymer benchmark it made rollouts worse (:mod:`openmm_cgml.models.noise`).
        refine_steps: Langevin steps per refinement level.
        refine_step_size: epsilon (nm^2); step at level sigma is eps * (sigma / sigma_min)^2.
        refine_noise: 1 = annealed Langevin, 0 = deterministic score ascent.
        input_noise_max, input_noise_min: per-molecule input noise sigma is drawn
            log-uniformly in [min, max] times the displacement RMS (0 disables).
        input_noise_correlation: rho in [0, 1], correlation of the input noise between the
            history frames: each frame gets ``sqrt(rho) * common + sqrt(1 - rho) * own``
            (unit-variance parts). 0 (default): independent per frame, which corrupts the
            finite-difference velocities and teaches the dynamics to distrust them; near 1
            the structure is perturbed but the velocities stay clean.
        nll_weight, dsm_weight, rg_weight: loss weights (rg_weight > 0 adds an Rg head).
        drift_horizon, drift_weight: multi-step drift consistency (training only). With
            ``drift_weight > 0`` every training window holds ``k + drift_horizon`` frames: the
            one-step NLL is averaged over the ``drift_horizon`` consecutive sub-windows, and
            the term ``drift`` adds the squared sum of their standardised one-step residuals
            divided by ``drift_horizon`` (1 in expectation for a calibrated model). A bias of
            the mean that persists over consecutive steps -- a too-weak restoring drift of
            the slow modes -- then costs ``drift_horizon`` times more than in the one-step
            NLL, where it is buried in the step noise. Default 1 / 0: off. Experimental: the
            sub-windows are teacher-forced (each sees the true frames of the earlier ones),
            so a model can lower the term by anti-correlating its consecutive residuals
            instead of fixing its drift; on small CPU runs it did exactly that
            (``benchmarks/results/polymer_cpu_2026-12-03b/``).
        rollout_horizon, rollout_weight: multi-step rollout score (training only). With
            ``rollout_weight > 0`` every training window holds at least
            ``k + rollout_horizon`` frames; from the true (noise-free) history two independent
            Gaussian rollouts of ``rollout_horizon`` model steps are drawn (reparameterised:
            gradients reach the mean; the std is held fixed, it belongs to the NLL) and
            scored at every step j against the true frame j with the energy score, a proper
            scoring rule: ``E|X - y| - E|X - X'| / 2``, per bead on positions (3-D distance)
            and per molecule on the radius of gyration, in units of the displacement RMS
            times ``sqrt(j)`` (the Rg part also times ``sqrt(beads)``). It is lowest in
            expectation when the rollout's distribution is the reference's, so unlike the
            drift term it cannot be lowered by correlating errors; it measures the drift of
            the slow modes over ``rollout_horizon`` steps, where it has added up, instead of
            over one step, where the step noise hides it. Default 0 / 0: off.
        element_vocab, residue_vocab, role_vocab, bond_vocab: embedding table sizes;
            ``residue_vocab = 0`` / ``role_vocab = 0`` mean "the size of
            ``openmm_cgml.mapping.features.RESIDUE_VOCAB`` / ``ROLE_VOCAB``" (filled in
            at construction, so a saved config always holds the actual sizes).
        pool: ``"mass"`` (mass-weighted) or ``"mean"`` pooling of atoms into beads.
    """

    family: str = "plain"
    hidden: int = 128
    layers: int = 7
    score_layers: int = 4
    embed_layers: int = 3
    history_length: int = 20
    cutoff_nm: float = 1.0
    num_rbf: int = 16
    avg_neighbors: float = 12.0
    min_std: float = 0.05
    sigma_max: float = 1.0
    sigma_min: float = 0.01
    noise_levels: int = 20
    refine_levels: int = 5
    refine_sigma_max: float = 0.0
    refine_sampler: str = "langevin"
    refine_widen: bool = False
    noise_correlation: float = 0.0
    refine_steps: int = 10
    refine_step_size: float = 1e-5
    refine_noise: float = 1.0
    input_noise_max: float = 0.1
    input_noise_min: float = 0.01
    input_noise_correlation: float = 0.0
    nll_weight: float = 1.0
    dsm_weight: float = 1.0
    rg_weight: float = 0.0
    drift_horizon: int = 1
    drift_weight: float = 0.0
    rollout_horizon: int = 0
    rollout_weight: float = 0.0
    element_vocab: int = 120
    residue_vocab: int = 0
    role_vocab: int = 0
    bond_vocab: int = 8
    pool: str = "mass"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        coerce_numbers(self, "ModelConfig")
        if self.residue_vocab == 0 or self.role_vocab == 0:
            from openmm_cgml.mapping.features import RESIDUE_VOCAB, ROLE_VOCAB

            self.residue_vocab = self.residue_vocab or len(RESIDUE_VOCAB)
            self.role_vocab = self.role_vocab or len(ROLE_VOCAB)
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the bad field."""
        def bad(name: str, why: str) -> None:
            raise ValueError(f"ModelConfig.{name}: {why} (got {getattr(self, name)!r})")

        if self.family not in FAMILIES:
            bad("family", f"must be one of {FAMILIES}")
        if self.refine_sampler not in SAMPLERS:
            bad("refine_sampler", f"must be one of {SAMPLERS}")
        if self.pool not in ("mass", "mean"):
            bad("pool", "must be 'mass' or 'mean'")
        for name in ("hidden", "layers", "score_layers", "history_length", "num_rbf",
                     "noise_levels", "element_vocab", "residue_vocab", "role_vocab",
                     "bond_vocab"):
            if int(getattr(self, name)) < 1:
                bad(name, "must be >= 1")
        if self.history_length < 2:
            bad("history_length", "must be >= 2 (velocities are frame differences)")
        for name in ("embed_layers", "refine_levels", "refine_steps"):
            if int(getattr(self, name)) < 0:
                bad(name, "must be >= 0")
        if self.refine_levels > self.noise_levels:
            bad("refine_levels", f"must be <= noise_levels={self.noise_levels}")
        for name in ("cutoff_nm", "avg_neighbors", "min_std", "sigma_max", "sigma_min"):
            if not float(getattr(self, name)) > 0:
                bad(name, "must be > 0")
        if self.sigma_min > self.sigma_max:
            bad("sigma_min", "must be <= sigma_max")
        for name in ("refine_step_size", "refine_noise", "input_noise_max", "input_noise_min",
                     "nll_weight", "dsm_weight", "rg_weight", "drift_weight",
                     "rollout_weight"):
            if float(getattr(self, name)) < 0 or not math.isfinite(float(getattr(self, name))):
                bad(name, "must be a finite number >= 0")
        if int(self.drift_horizon) < 1:
            bad("drift_horizon", "must be >= 1 (frames after the history per training window)")
        if self.drift_weight > 0 and int(self.drift_horizon) < 2:
            bad("drift_weight", "needs drift_horizon >= 2 (the drift term sums residuals of "
                "consecutive steps)")
        if int(self.rollout_horizon) < 0:
            bad("rollout_horizon", "must be >= 0 (model steps rolled out per training window)")
        if self.rollout_weight > 0 and int(self.rollout_horizon) < 1:
            bad("rollout_weight", "needs rollout_horizon >= 1 (steps to roll out)")
        if self.input_noise_min > self.input_noise_max:
            bad("input_noise_min", "must be <= input_noise_max")
        if not 0.0 <= float(self.input_noise_correlation) <= 1.0:
            bad("input_noise_correlation", "must lie in [0, 1]")
        if not math.isfinite(float(self.noise_correlation)) or self.noise_correlation < 0:
            bad("noise_correlation", "must be a finite lambda0 >= 0 (0 = independent noise)")
        if not math.isfinite(float(self.refine_sigma_max)) or self.refine_sigma_max < 0:
            bad("refine_sigma_max", "must be 0 (smallest training sigmas) or a sigma in nm")
        if self.refine_sigma_max > 0 and not (
                self.sigma_min <= self.refine_sigma_max <= self.sigma_max * (1 + 1e-9)):
            bad("refine_sigma_max", f"must lie in the trained range [sigma_min, sigma_max] = "
                f"[{self.sigma_min}, {self.sigma_max}] nm")

    @property
    def drift_windows(self) -> int:
        """One-step sub-windows per training window: ``drift_horizon`` with the drift term
        on (``drift_weight > 0``), else 1."""
        return int(self.drift_horizon) if self.drift_weight > 0 else 1

    @property
    def rollout_steps(self) -> int:
        """Model steps of the rollout score: ``rollout_horizon`` with it on
        (``rollout_weight > 0``), else 0."""
        return int(self.rollout_horizon) if self.rollout_weight > 0 else 0

    @property
    def training_horizon(self) -> int:
        """Frames after the history in one training window: 1 (the next frame), or more with
        the drift term (``drift_windows``) or the rollout score (``rollout_steps``) on."""
        return max(self.drift_windows, self.rollout_steps, 1)

    @property
    def noise_draws(self) -> int:
        """Standard-normal draws [M, N, 3] one model step consumes: 1 + levels * steps
        (steps = 1 for the diffusion samplers)."""
        return noise_draws(self.refine_levels, self.refine_steps, self.refine_sampler)

    def sigmas(self) -> list[float]:
        """The geometric noise ladder of training, largest first (nm)."""
        return geometric_sigmas(self.sigma_max, self.sigma_min, self.noise_levels)

    def refine_sigmas(self) -> list[float]:
        """The refinement ladder, largest first (nm): see ``refine_sigma_max``."""
        return refinement_ladder(self.sigma_max, self.sigma_min, self.noise_levels,
                                 self.refine_levels, self.refine_sigma_max)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def architecture(self) -> dict[str, Any]:
        """The keys the weights depend on: their shapes, the stored noise ladder, and the
        graph and std floor the networks were trained with (cutoff, neighbour scale,
        ``min_std``). Two configs whose ``architecture()`` agree can use each other's
        weights; the other keys (loss weights, input noise, sampler) may differ, e.g. when
        fine-tuning."""
        return {k: getattr(self, k) for k in ARCHITECTURE_KEYS} | {"rg_head": self.rg_weight > 0}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Build from a dict; unknown keys raise ``ValueError`` listing the valid ones."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"ModelConfig: unknown keys {unknown}; valid keys: {sorted(names)}")
        return cls(**data)
