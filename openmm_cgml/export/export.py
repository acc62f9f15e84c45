"""Build TorchScript step modules (and CG energy modules) from a trained model + mapping."""

from __future__ import annotations

import contextlib
import copy
import inspect
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from openmm_cgml.export.step import StepModule
from openmm_cgml.models.config import geometric_sigmas, noise_draws, refinement_ladder
from openmm_cgml.models.layers import fold_layer_norms
from openmm_cgml.models.model import NETWORK_DTYPES
from openmm_cgml.models.networks import set_sorted_aggregation
from openmm_cgml.utils import atomic_path

#: ``static_graph=None`` (auto) exports static pairs only up to this many beads per molecule
STATIC_GRAPH_MAX_BEADS = 256
#: ... and up to this many pairs in all. Measured on one H200 (default ModelConfig, 35-bead
#: chains, one step = 51 network calls): 1 replica (1,122 pairs) 170 ms radius search vs
#: 27 ms static pairs in a CUDA graph, 64 replicas (72k pairs) 245 vs 140 ms, 512 replicas
#: (574k pairs) 724 vs 953 ms; the two cost the same near 2e5 pairs.
STATIC_GRAPH_AUTO_MAX_PAIRS = 200_000
#: hard cap on the number of static pairs (directed, both directions) of one step module
STATIC_GRAPH_MAX_PAIRS = 4_000_000
#: ``pair_capacity=None`` (auto) prunes static pairs from this many pairs on (fewer: the step
#: is launch-bound and pruning saves nothing)
PAIR_PRUNE_MIN_PAIRS = 50_000
#: auto ``pair_capacity`` = this x the pairs within the cutoff in the mappings' own structures
PAIR_CAPACITY_MARGIN = 1.5


@dataclass
class InferenceSettings:
    """What the exported step needs besides the networks (filled from the model's config).

    ``timestep_ps``: model time step dt (ps); ``history_length``: k;
    ``sigmas``: refinement noise ladder, decreasing (nm); ``steps_per_level``: Langevin steps
    per level; ``step_size``: Langevin step at the smallest level (nm^2);
    ``score_is_scaled``: the score net returns ``sigma * grad log p``;
    ``sampler``: "langevin", "ddim", "ancestral", "posterior" or "analytic"
    (:mod:`openmm_cgml.export.step`);
    ``widen``: widen the sampled Gaussian by the ladder top (``ModelConfig.refine_widen``);
    ``noise_correlation``: lambda0 of the bond-graph noise correlation (0 = independent).
    """

    timestep_ps: float
    history_length: int
    sigmas: list[float]
    steps_per_level: int
    step_size: float
    noise_scale: float = 1.0
    score_is_scaled: bool = False
    sampler: str = "langevin"
    widen: bool = False
    noise_correlation: float = 0.0

    @property
    def noise_draws(self) -> int:
        return noise_draws(len(self.sigmas), self.steps_per_level, self.sampler,
                           self.noise_correlation > 0 and self.widen)


def _config_dict(model: torch.nn.Module) -> dict[str, Any]:
    config = getattr(model, "config", None)
    if config is None:
        return {}
    if hasattr(config, "to_dict"):
        return dict(config.to_dict())
    if isinstance(config, dict):
        return dict(config)
    return dict(vars(config))


def geometric_ladder(sigma_max: float, sigma_min: float, levels: int) -> list[float]:
    """``levels`` noise levels from ``sigma_max`` down to ``sigma_min`` (nm), log-spaced."""
    if levels <= 0:
        return []
    if levels == 1:
        return [float(sigma_min)]
    if not sigma_max >= sigma_min > 0:
        raise ValueError(f"need sigma_max >= sigma_min > 0, got {sigma_max}, {sigma_min}")
    return geometric_sigmas(sigma_max, sigma_min, levels)


def inference_settings(model: torch.nn.Module, **overrides: Any) -> InferenceSettings:
    """Collect the inference settings from ``model.config`` (and ``model.statistics``).

    Keyword overrides (``timestep_ps``, ``history_length``, ``sigmas``, ``steps_per_level``,
    ``step_size``, ``noise_scale``, ``score_is_scaled``) win over the config; ``None``
    means "use the config".
    """
    cfg = _config_dict(model)
    stats = getattr(model, "statistics", None) or {}

    def pick(name: str, *keys: str, default: Any = None) -> Any:
        if overrides.get(name) is not None:
            return overrides[name]
        for key in keys:
            if key in cfg and cfg[key] is not None:
                return cfg[key]
            if isinstance(stats, dict) and key in stats and stats[key] is not None:
                return stats[key]
        return default

    timestep = pick("timestep_ps", "timestep_ps", "dt_ps", "dt", "stride_ps")
    if overrides.get("timestep_ps") is None and isinstance(
            getattr(type(model), "timestep_ps", None), property):
        timestep = model.timestep_ps  # CGModel: the dt buffer
    if timestep is None:
        raise ValueError("the model does not record its time step (config/statistics 'dt'); "
                         "pass timestep_ps=... (ps) to export_step_module")
    k = pick("history_length", "history_length")
    if k is None:
        raise ValueError("the model config has no 'history_length'; pass history_length=...")
    sigmas = overrides.get("sigmas")
    if sigmas is None:
        if "refine_levels" in cfg:  # openmm_cgml.models.ModelConfig
            sigmas = refinement_ladder(float(cfg["sigma_max"]), float(cfg["sigma_min"]),
                                       int(cfg["noise_levels"]), int(cfg["refine_levels"]),
                                       float(cfg.get("refine_sigma_max", 0.0)))
        else:
            sigmas = []
    steps = pick("steps_per_level", "refine_steps", "steps_per_level", default=1)
    step_size = pick("step_size", "refine_step_size", "step_size", default=1e-5)
    noise_scale = pick("noise_scale", "refine_noise", "noise_scale", default=1.0)
    scaled = pick("score_is_scaled", "score_is_scaled", default=False)
    sampler = pick("sampler", "refine_sampler", "sampler", default="langevin")
    widen = pick("widen", "refine_widen", "widen", default=False)
    correlation = pick("noise_correlation", "noise_correlation", default=0.0)
    return InferenceSettings(float(timestep), int(k), [float(s) for s in sigmas], int(steps),
                             float(step_size), float(noise_scale), bool(scaled), str(sampler),
                             bool(widen), float(correlation))


@contextlib.contextmanager
def quiet_jit():
    """Silence torch's "torch.jit is deprecated" warnings: TorchScript is what the C++ plugin
    (libtorch, no Python) can load, so it is the right format here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.jit.*")
        warnings.filterwarnings("ignore", message=r".*torch\.jit.*deprecated.*")
        yield


def _as_mappings(mapping: Any) -> list[Any]:
    if isinstance(mapping, (list, tuple)):
        if not mapping:
            raise ValueError("need at least one BeadMapping")
        return list(mapping)
    return [mapping]


def fine_graph_tensors(mappings: Sequence[Any], device: torch.device | str = "cpu"
                       ) -> dict[str, torch.Tensor]:
    """Concatenate the fine (atom) graphs and CG graphs of ``mappings`` into one batch.

    Returns tensors: ``atom_element, atom_residue, atom_role [A]`` int64, ``atom_mass [A]``
    (amu), ``atom_bonds [2, B]``, ``bond_types [B]``, ``atom_to_bead [A]`` (global bead
    index), ``bead_masses [N]`` amu, ``cg_bonds [2, E]``, ``batch [N]``, ``num_beads``.
    """
    keys = ("atom_element", "atom_residue", "atom_role", "atom_mass", "atom_bonds",
            "bond_types", "atom_to_bead", "bead_masses", "cg_bonds", "batch")
    parts: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    atom_offset = 0
    bead_offset = 0
    for index, m in enumerate(mappings):
        missing = [a for a in ("atom_to_bead", "num_beads", "bead_masses", "cg_bonds",
                               "atom_features", "atom_bonds", "bond_types") if not hasattr(m, a)]
        if missing:
            raise ValueError(f"mapping #{index} is not a BeadMapping (missing {missing}); "
                             "build one with openmm_cgml.coarse_grain(...)")
        feats = m.atom_features
        n_atoms = len(m.atom_to_bead)
        parts["atom_element"].append(np.asarray(feats["element"], dtype=np.int64))
        parts["atom_residue"].append(np.asarray(feats["residue"], dtype=np.int64))
        parts["atom_role"].append(np.asarray(feats["role"], dtype=np.int64))
        parts["atom_mass"].append(np.asarray(feats["mass"], dtype=np.float64))
        bonds = np.asarray(m.atom_bonds, dtype=np.int64).reshape(-1, 2)
        parts["atom_bonds"].append(bonds.T + atom_offset)
        parts["bond_types"].append(np.asarray(m.bond_types, dtype=np.int64).reshape(-1))
        parts["atom_to_bead"].append(np.asarray(m.atom_to_bead, dtype=np.int64) + bead_offset)
        parts["bead_masses"].append(np.asarray(m.bead_masses, dtype=np.float64))
        cg = np.asarray(m.cg_bonds, dtype=np.int64).reshape(-1, 2)
        parts["cg_bonds"].append(cg.T + bead_offset)
        parts["batch"].append(np.full(int(m.num_beads), index, dtype=np.int64))
        atom_offset += n_atoms
        bead_offset += int(m.num_beads)
    out: dict[str, torch.Tensor] = {}
    for key, arrays in parts.items():
        axis = 1 if key in ("atom_bonds", "cg_bonds") else 0
        out[key] = torch.as_tensor(np.concatenate(arrays, axis=axis)).to(device)
    out["num_beads"] = torch.tensor(bead_offset)
    return out


@torch.no_grad()
def bead_embeddings(model: torch.nn.Module, mapping: Any,
                    device: torch.device | str = "cpu") -> torch.Tensor:
    """Per-bead embeddings ``[N, H]`` from the model's Embedding GNN on the fine graph(s).

    Molecules do not interact in the fine graph, so a mapping object listed several times
    (replicas) is embedded once and its rows repeated.
    """
    items = _as_mappings(mapping)
    first: dict[int, int] = {}  # id(mapping) -> index among the distinct ones
    distinct = []
    for m in items:
        if id(m) not in first:
            first[id(m)] = len(distinct)
            distinct.append(m)
    g = fine_graph_tensors(distinct, device)
    dtype = next(model.parameters()).dtype
    emb = model.embed(g["atom_element"], g["atom_residue"], g["atom_role"],
                      g["atom_mass"].to(dtype), g["atom_bonds"], g["bond_types"],
                      g["atom_to_bead"], int(g["num_beads"]))
    if len(distinct) == len(items):
        return emb
    blocks = torch.split(emb, [int(m.num_beads) for m in distinct])
    return torch.cat([blocks[first[id(m)]] for m in items])


def _accepts_pairs(model: torch.nn.Module) -> bool:
    """True if ``model.dynamics`` and ``model.score`` both take a ``pairs`` argument."""
    for name in ("dynamics", "score"):
        try:
            params = inspect.signature(getattr(model, name)).parameters
        except (AttributeError, TypeError, ValueError):
            return False
        if "pairs" not in params:
            return False
    return True


def _molecule_sizes(batch: torch.Tensor) -> torch.Tensor:
    """Beads per molecule (int64 [M], CPU) of a ``batch`` vector ([0] if empty)."""
    return torch.bincount(batch.to(torch.long).cpu()) if batch.numel() else torch.zeros(1,
                                                                                       dtype=torch.long)


def static_pair_count(batch: torch.Tensor, cg_bonds: torch.Tensor) -> int:
    """Number of static pairs of :func:`openmm_cgml.models.graph_ops.all_pairs` (directed)."""
    counts = _molecule_sizes(batch)
    return int((counts * (counts - 1)).sum()) - 2 * int(cg_bonds.reshape(2, -1).shape[1])


def resolve_static_graph(static_graph: bool | None, model: torch.nn.Module,
                         batch: torch.Tensor, cg_bonds: torch.Tensor,
                         device: torch.device | str) -> bool:
    """Decide whether a step module uses static pairs (CUDA-graph capturable).

    ``None`` (auto): True on a CUDA ``device`` when the model's ``dynamics``/``score`` take
    ``pairs``, the largest molecule has at most :data:`STATIC_GRAPH_MAX_BEADS` beads and
    there are at most :data:`STATIC_GRAPH_AUTO_MAX_PAIRS` pairs (beyond that the O(n^2)
    pairs cost more than the radius search saves). ``True``: forced (ValueError if the model
    cannot take pairs or the pairs exceed :data:`STATIC_GRAPH_MAX_PAIRS`). ``False``: off.
    """
    if static_graph is not None and not static_graph:
        return False
    supported = _accepts_pairs(model)
    pairs = static_pair_count(batch, cg_bonds)
    if static_graph is None:
        largest = int(_molecule_sizes(batch).max())
        return (torch.device(device).type == "cuda" and supported
                and largest <= STATIC_GRAPH_MAX_BEADS and pairs <= STATIC_GRAPH_AUTO_MAX_PAIRS)
    if not supported:
        raise ValueError(f"static_graph=True needs a model whose dynamics/score take a 'pairs' "
                         f"argument (docs/CONTRACTS.md §5); {type(model).__name__} does not")
    if pairs > STATIC_GRAPH_MAX_PAIRS:
        raise ValueError(f"static_graph=True would store {pairs:,} bead pairs, more than the cap "
                         f"of {STATIC_GRAPH_MAX_PAIRS:,}; export fewer or smaller molecules "
                         "or use static_graph=False")
    return True


def pairs_within_cutoff(mappings: Sequence[Any], cutoff_nm: float) -> int | None:
    """Directed non-bonded bead pairs closer than ``cutoff_nm`` (nm) in each mapping's own
    structure (open boundaries), summed over ``mappings``; None if one stores no positions."""
    counts: dict[int, int] = {}
    total = 0
    for m in mappings:
        if id(m) not in counts:
            if getattr(m, "positions", None) is None:
                return None
            x = np.asarray(m.bead_positions(m.positions), dtype=np.float64)
            close = np.linalg.norm(x[:, None] - x[None], axis=-1) < cutoff_nm
            np.fill_diagonal(close, False)
            bonds = np.asarray(m.cg_bonds, dtype=np.int64).reshape(-1, 2)
            close[bonds[:, 0], bonds[:, 1]] = False
            close[bonds[:, 1], bonds[:, 0]] = False
            counts[id(m)] = int(close.sum())
        total += counts[id(m)]
    return total


def resolve_pair_capacity(pair_capacity: int | None, static: bool, model: torch.nn.Module,
                          mappings: Sequence[Any], num_pairs: int) -> int:
    """Pairs kept per network call (0 = every static pair); see :func:`export_step_module`.

    ``None`` (auto): with static pairs, at least :data:`PAIR_PRUNE_MIN_PAIRS` of them and a
    model config with ``cutoff_nm``: :data:`PAIR_CAPACITY_MARGIN` x the pairs within the
    cutoff in the mappings' structures (capped at ``num_pairs``); else 0. A given value is
    returned as it is.
    """
    if pair_capacity is not None:  # checked by StepModule
        return int(pair_capacity)
    cutoff = getattr(getattr(model, "config", None), "cutoff_nm", None)
    if not static or cutoff is None or num_pairs < PAIR_PRUNE_MIN_PAIRS:
        return 0
    near = pairs_within_cutoff(mappings, float(cutoff))
    if near is None:
        return 0
    return min(num_pairs, math.ceil(PAIR_CAPACITY_MARGIN * near))


def build_step_module(model: torch.nn.Module, mapping: Any, *,
                      device: torch.device | str = "cpu", static_graph: bool | None = None,
                      pair_capacity: int | None = None, network_dtype: str = "float32",
                      fold_norms: bool | None = None, sorted_aggregation: bool = False,
                      **overrides: Any) -> StepModule:
    """The eager (not yet scripted) :class:`StepModule` for ``mapping`` (one or a list).

    ``static_graph``, ``pair_capacity``, ``network_dtype``, ``fold_norms``,
    ``sorted_aggregation``: see :func:`export_step_module`;
    ``overrides``: of :func:`inference_settings`.
    """
    if network_dtype not in NETWORK_DTYPES:
        raise ValueError(f"network_dtype must be one of {', '.join(NETWORK_DTYPES)}, "
                         f"got {network_dtype!r}")
    if network_dtype != "float32" and not hasattr(model, "set_network_dtype"):
        raise ValueError(f"network_dtype={network_dtype!r} needs a CGModel (a model with "
                         f"set_network_dtype); {type(model).__name__} has none")
    mappings = _as_mappings(mapping)
    settings = inference_settings(model, **overrides)
    g = fine_graph_tensors(mappings, "cpu")
    static = resolve_static_graph(static_graph, model, g["batch"], g["cg_bonds"], device)
    capacity = resolve_pair_capacity(
        pair_capacity, static, model, mappings,
        static_pair_count(g["batch"], g["cg_bonds"]) if static else 0)
    net = copy.deepcopy(model).to(device).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    g = {k: v.to(device) for k, v in g.items()}
    emb = bead_embeddings(net, mappings, device)  # float32 embedding net, once
    if network_dtype != "float32":
        net.set_network_dtype(NETWORK_DTYPES[network_dtype])
    if fold_norms is None:  # auto: where it was measured faster (many static pairs)
        fold_norms = static and static_pair_count(g["batch"], g["cg_bonds"]) \
            >= PAIR_PRUNE_MIN_PAIRS
    if fold_norms:
        fold_layer_norms(net)
    if sorted_aggregation:
        set_sorted_aggregation(net)
    return StepModule(net, emb, g["bead_masses"], g["cg_bonds"], g["batch"],
                      settings.history_length, settings.timestep_ps, settings.sigmas,
                      settings.steps_per_level, settings.step_size, settings.noise_scale,
                      settings.score_is_scaled, settings.sampler, settings.widen,
                      static_graph=static, pair_capacity=capacity,
                      network_dtype=network_dtype,
                      noise_correlation=settings.noise_correlation)


def export_step_module(model: torch.nn.Module, mapping: Any, *,
                       path: str | os.PathLike | None = None,
                       device: torch.device | str = "cpu",
                       timestep_ps: float | None = None,
                       history_length: int | None = None,
                       sigmas: Sequence[float] | None = None,
                       steps_per_level: int | None = None,
                       step_size: float | None = None,
                       noise_scale: float | None = None,
                       score_is_scaled: bool | None = None,
                       sampler: str | None = None,
                       widen: bool | None = None,
                       noise_correlation: float | None = None,
                       static_graph: bool | None = None,
                       pair_capacity: int | None = None,
                       network_dtype: str = "float32",
                       fold_norms: bool | None = None,
                       sorted_aggregation: bool = False) -> torch.jit.ScriptModule:
    """TorchScript step module for one molecule (or a list of molecules, batched).

    Args:
        model: a trained ``openmm_cgml.models.CGModel`` (or any module with TorchScript-
            compatible ``embed``/``dynamics``/``score``, docs/CONTRACTS.md §5).
        mapping: a ``BeadMapping`` (or a list of them: the beads are concatenated in
            order and the molecules do not interact).
        path: if given, also save the module there (``torch.jit.save``, written atomically).
        device: where the buffers and weights live ("cpu" or "cuda").
        timestep_ps, history_length, sigmas (nm, decreasing), steps_per_level, step_size (nm^2),
            noise_scale, score_is_scaled, sampler ("langevin", "ddim", "ancestral",
            "posterior", "analytic"), widen,
            noise_correlation (lambda0, :mod:`openmm_cgml.models.noise`): override the values
            stored in the model's config (default ladder: ``refine_sigmas``).
        static_graph: use every non-bonded pair of each molecule as fixed edges instead of a
            radius search per call (same step to float rounding; fixed shapes and no
            host-device syncs, so the plugin can capture the step in a CUDA graph; costs
            O(n^2) per molecule). ``None`` (auto): on for a CUDA ``device`` when the largest
            molecule has <= 256 beads and there are <= 200,000 pairs (about 180 copies of a
            35-bead molecule; beyond that the pairs cost more than the search saves) and the
            model's dynamics/score take ``pairs``; ``True`` forces it (ValueError over
            4,000,000 pairs); ``False`` disables it. The choice is recorded as the module
            attribute ``graph_safe``.
        pair_capacity: with static pairs, keep only this many of them per network call, the
            closest (see :class:`~openmm_cgml.export.step.StepModule`: the same step while it
            holds every pair within the cutoff, fixed shapes still). ``None`` (auto): from
            50,000 static pairs on, 1.5 x the pairs within the cutoff in the mappings' own
            structures (villin: 528 of 1,122 per copy within 1.2 nm); ``0``: every pair.
            Recorded as the module attribute ``pair_capacity``.
        network_dtype: ``"float32"`` (as trained), ``"bfloat16"`` or ``"float16"``: the
            dtype in which the dynamics and score networks keep their weights and compute
            their hidden features (:meth:`openmm_cgml.models.CGModel.set_network_dtype`).
            Positions, pair geometry, the integration and the module's inputs and outputs
            stay float32. Half the bytes per pair and half-precision tensor cores: on an
            H200, 1,000 villin replicas step 1.18x faster than with TF32 (1.38x with the
            folded norms below; ``benchmarks/speed.py --network-dtype``); on a CPU, half
            precision is slower. Recorded as the module attribute ``network_dtype``.
        fold_norms: compute each ``LayerNorm(Linear(x))`` of the networks with the centring
            folded into the linear weights (:func:`openmm_cgml.models.layers.linear_layer_norm`:
            the same function up to rounding, fewer passes over the per-pair tensors, a few
            more kernels). ``None`` (auto): on with static pairs from
            :data:`PAIR_PRUNE_MIN_PAIRS` pairs on (H200, 1,000 villin replicas, float16:
            186 instead of 221 ms per step; one villin: 4.4 instead of 3.1 ms, so off there);
            ``True``/``False`` force it.
        sorted_aggregation: sort the edges by target once per network call and sum the
            messages as contiguous segments (``torch.segment_reduce``) instead of atomic
            ``index_add_`` (:func:`openmm_cgml.models.networks.set_sorted_aggregation`; same
            sums up to rounding order). On an H200 a segment sum over 860,000 x 128 edges
            took 147 us against 843 us for ``index_add_`` (float32); the whole step with
            it is not measured yet, hence off by default.

    Returns:
        ``torch.jit.ScriptModule`` with ``forward(history[k,N,3], noise[M,N,3],
        external_force[N,3], box[3,3]) -> [N,3]`` and attributes ``history_length``,
        ``noise_draws``, ``timestep_ps``, ``num_particles``, ``graph_safe``.
    """
    step = build_step_module(model, mapping, device=device, timestep_ps=timestep_ps,
                             history_length=history_length, sigmas=sigmas,
                             steps_per_level=steps_per_level, step_size=step_size,
                             noise_scale=noise_scale, score_is_scaled=score_is_scaled,
                             sampler=sampler, widen=widen,
                             noise_correlation=noise_correlation, static_graph=static_graph,
                             pair_capacity=pair_capacity, network_dtype=network_dtype,
                             fold_norms=fold_norms, sorted_aggregation=sorted_aggregation)
    try:
        with quiet_jit():
            scripted = torch.jit.script(step)
    except Exception as exc:  # torch.jit.frontend errors have long, unhelpful traces
        raise ValueError(
            f"could not compile {type(model).__name__} to TorchScript: "
            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}. "
            "Its embed/dynamics/score methods must be TorchScript-compatible "
            "(docs/CONTRACTS.md §5).") from exc
    if path is not None:
        save_module(scripted, path)
    return scripted


def save_module(module: torch.jit.ScriptModule, path: str | os.PathLike) -> Path:
    """Save a scripted module atomically (``torch.jit.save``); return the path."""
    with atomic_path(path) as tmp, quiet_jit():
        torch.jit.save(module, str(tmp))
    return Path(path)


def load_step_module(path: str | os.PathLike, map_location: str = "cpu"
                     ) -> torch.jit.ScriptModule:
    """Load an exported step module and check the contract attributes; clear errors."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"step module {p} does not exist (make one with `cgml export`)")
    try:
        with quiet_jit():
            module = torch.jit.load(str(p), map_location=map_location)
    except Exception as exc:
        raise ValueError(f"{p} is not a TorchScript file ({exc.__class__.__name__}); "
                         "re-export it with `cgml export`") from exc
    check_step_module(module, name=str(p))
    return module


def check_step_module(module: torch.nn.Module, name: str = "step module") -> None:
    """Raise ValueError unless ``module`` carries the step-module contract attributes."""
    for attr, kind in (("history_length", int), ("noise_draws", int),
                       ("timestep_ps", float), ("num_particles", int)):
        if not hasattr(module, attr):
            raise ValueError(f"{name} lacks the attribute {attr!r} of the step-module contract")
        value = getattr(module, attr)
        if not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
            raise ValueError(f"{name}: attribute {attr!r} must be {kind.__name__}, got {value!r}")
