"""``CGMLModel``: a trained CG model plus what is needed to simulate with it in OpenMM."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import openmm
import torch

from openmm_cgml.export import export_step_module, inference_settings
from openmm_cgml.export.checkpoint import load_checkpoint

CARD_FILE = "card.json"


class CGMLModel:
    """A trained coarse-grained model ready for OpenMM.

    Attributes:
        network: the ``CGModel`` (``torch.nn.Module``, eval mode).
        name: model name (the folder name for shipped models).
        card: the machine-readable model card (``card.json``): ``mapping`` (``scheme`` and
            options for :func:`openmm_cgml.coarse_grain`), ``temperature_K``, ``status``,
            training data/command/seed/time, evaluation figures.
        directory: the checkpoint folder it was loaded from (or None).

    Typical use::

        model = openmm_cgml.load_model()
        cg = model.map("protein.pdb")                  # BeadMapping with the model's scheme
        simulation = openmm.app.Simulation(cg.topology, model.create_system(cg),
                                           model.create_integrator(cg, seed=1))
        simulation.context.setPositions(cg.bead_positions()[0])
    """

    def __init__(self, network: torch.nn.Module, name: str = "model",
                 card: dict[str, Any] | None = None,
                 directory: str | os.PathLike | None = None) -> None:
        self.network = network.eval()
        self.name = name
        self.card = dict(card or {})
        self.directory = None if directory is None else Path(directory)
        # ModelConfig refinement changes (see with_refinement) and the export overrides they
        # make, applied to every export
        self.refinement: dict[str, Any] = {}
        self._refinement_overrides: dict[str, Any] = {}

    _REFINEMENT_FIELDS = {"sampler": "refine_sampler", "widen": "refine_widen",
                          "levels": "refine_levels", "sigma_max": "refine_sigma_max",
                          "steps": "refine_steps", "step_size": "refine_step_size",
                          "noise_correlation": "noise_correlation"}

    def with_refinement(self, **changes: Any) -> CGMLModel:
        """The same weights with other inference settings, as the CLI's refinement options.

        ``changes``: ``sampler`` ("langevin", "ddim", "ancestral", "posterior", "analytic"),
        ``widen`` (bool), ``levels`` (ladder levels, 0 = no refinement), ``sigma_max`` (ladder
        top, nm), ``steps`` (Langevin steps per level), ``step_size`` (nm^2),
        ``noise_correlation``.
        E.g. ``polymer-comb-equivariant`` with its sampler before 2026-12-05 (independent
        noise, ancestral walk; it ships with correlated noise and the posterior walk)::

            model = openmm_cgml.load_model("polymer-comb-equivariant").with_refinement(
                sampler="ancestral", noise_correlation=0.0)

        Returns a new ``CGMLModel`` sharing the network; its ``export`` /
        ``create_integrator`` use these settings (explicit export overrides still win).
        A bad name or value raises ``ValueError`` naming it.
        """
        from openmm_cgml.export.options import config_overrides

        unknown = sorted(set(changes) - set(self._REFINEMENT_FIELDS))
        if unknown:
            raise ValueError(f"unknown refinement setting(s) {unknown}; use "
                             f"{sorted(self._REFINEMENT_FIELDS)}")
        merged = {**self.refinement,
                  **{self._REFINEMENT_FIELDS[k]: v for k, v in changes.items()}}
        other = CGMLModel(self.network, self.name, self.card, self.directory)
        # checked here (ValueError names the field), not at the first export
        other._refinement_overrides = config_overrides(self.network.config, merged)
        other.refinement = merged
        return other

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_directory(cls, directory: str | os.PathLike, name: str | None = None
                       ) -> CGMLModel:
        """Load a checkpoint folder (``cgml train`` output or a shipped model)."""
        path = Path(directory)
        network = load_checkpoint(path)
        card_file = path / CARD_FILE
        card: dict[str, Any] = {}
        if card_file.is_file():
            try:
                card = json.loads(card_file.read_text())
            except json.JSONDecodeError as exc:
                raise ValueError(f"{card_file} is not valid JSON: {exc}") from exc
        return cls(network, name or card.get("name") or path.name, card, path)

    # ------------------------------------------------------------------ properties
    @property
    def timestep_ps(self) -> float:
        """The model time step (ps)."""
        return inference_settings(self.network).timestep_ps

    @property
    def history_length(self) -> int:
        """k, the number of frames the dynamics net reads."""
        return inference_settings(self.network).history_length

    @property
    def mapping_options(self) -> dict[str, Any]:
        """``coarse_grain`` keyword arguments (``scheme`` + options) the model was trained with."""
        opts = dict(self.card.get("mapping") or {})
        opts.setdefault("scheme", "residue")
        return opts

    @property
    def num_parameters(self) -> int:
        return int(sum(p.numel() for p in self.network.parameters()))

    def __repr__(self) -> str:
        status = self.card.get("status", "")
        return (f"CGMLModel(name={self.name!r}, parameters={self.num_parameters:,}, "
                f"timestep_ps={self.timestep_ps}, history_length={self.history_length}"
                + (f", refinement={self.refinement}" if self.refinement else "")
                + (f", status={status!r}" if status else "") + ")")

    # ------------------------------------------------------------------ building blocks
    def map(self, structure: Any, **overrides: Any) -> Any:
        """Coarse-grain ``structure`` (PDB path, or (Topology, positions)) as the model expects."""
        from openmm_cgml.mapping import coarse_grain

        opts = self.mapping_options
        opts.update(overrides)
        return coarse_grain(structure, **opts)

    def export(self, mapping: Any, path: str | os.PathLike | None = None,
               device: str = "cpu", **overrides: Any) -> torch.jit.ScriptModule:
        """TorchScript step module for ``mapping`` (one BeadMapping or a list); see
        :func:`openmm_cgml.export.export_step_module` for the overrides."""
        overrides = {**self._refinement_overrides, **overrides}
        return export_step_module(self.network, mapping, path=path, device=device, **overrides)

    def create_system(self, mapping: Any, **kwargs: Any) -> openmm.System:
        """``openmm.System`` of the beads of ``mapping`` (bead masses; no forces unless given)."""
        from openmm_cgml.simulation import create_system

        return create_system(mapping, **kwargs)

    def create_integrator(self, mapping: Any, seed: int | None = None,
                          cuda_graphs: bool = True, **overrides: Any) -> openmm.Integrator:
        """``CGMLIntegrator`` running this model on ``mapping``'s beads, seeded with ``seed``.

        ``cuda_graphs`` (default on): when torch sees a GPU, export for CUDA (a static graph
        for small molecules) and let the integrator replay the step as a CUDA graph when the
        Context runs on OpenMM's CUDA platform (``integrator.getCudaGraphStatus()`` tells
        whether it is used). Pass False for a Context on the CPU platform of a GPU machine:
        the static graph would then run on the CPU, where the radius search is cheaper.
        """
        from openmm_cgml.simulation import create_integrator

        device = "cuda" if cuda_graphs and torch.cuda.is_available() else "cpu"
        return create_integrator(self.export(mapping, device=device, **overrides), seed=seed,
                                 cuda_graphs=cuda_graphs)

    def create_force(self, mapping: Any, temperature_K: float | None = None,
                     sigma_nm: float | None = None) -> openmm.Force:
        """``CGMLForce`` whose forces are ``kT * score`` of the score net (see
        :func:`openmm_cgml.export.export_score_force`)."""
        from openmm_cgml.export import export_score_force
        from openmm_cgml.simulation import create_force

        temperature = temperature_K or float(self.card.get("temperature_K", 300.0))
        return create_force(export_score_force(self.network, mapping, temperature_K=temperature,
                                               sigma_nm=sigma_nm))

    def initial_history(self, mapping: Any, positions: Any = None) -> np.ndarray:
        """A static history ``[k, N, 3]`` (nm): the bead positions repeated k times."""
        x = mapping.bead_positions(positions)
        x = x[0] if x.ndim == 3 else x
        return np.repeat(x[None], self.history_length, axis=0)
