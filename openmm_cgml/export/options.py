"""Command-line options that override a model's refinement settings at export/rollout time."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from openmm_cgml.models.config import SAMPLERS
from openmm_cgml.models.model import NETWORK_DTYPES


def add_network_dtype_argument(p: argparse.ArgumentParser) -> None:
    """``--network-dtype`` (float32, bfloat16, float16; default float32): the ``network_dtype``
    export option (:func:`openmm_cgml.export.export_step_module`)."""
    p.add_argument("--network-dtype", choices=tuple(NETWORK_DTYPES), default="float32",
                   help="dtype of the dynamics/score networks (float32 as trained; float16 or "
                        "bfloat16: 1.2-1.4x faster GPU steps with many replicas, slower on a "
                        "CPU; positions and the integration stay float32)")


def add_refinement_arguments(p: argparse.ArgumentParser) -> None:
    """``--sampler``, ``--widen``, ``--refine-levels``, ``--refine-sigma-max``,
    ``--refine-steps``, ``--refine-step-size`` and ``--noise-correlation`` (all default to the
    model's own config)."""
    p.add_argument("--sampler", choices=SAMPLERS, default=None,
                   help="override: refinement sampler (langevin = annealed Langevin; ddim, "
                        "ancestral, posterior, analytic = one diffusion step per level: "
                        "deterministic, reverse-SDE Euler, ancestral with the Gaussian "
                        "posterior's noise, the same with the analytic reverse variance "
                        "estimated per molecule from the score)")
    p.add_argument("--widen", action=argparse.BooleanOptionalAction, default=None,
                   help="override: widen the sampled Gaussian by the ladder top before "
                        "refining (ModelConfig.refine_widen)")
    p.add_argument("--refine-levels", type=int, default=None,
                   help="override: number of refinement ladder levels (0 = no refinement)")
    p.add_argument("--refine-sigma-max", type=float, default=None,
                   help="override: top of the refinement ladder (nm; 0 = the smallest "
                        "training levels)")
    p.add_argument("--refine-steps", type=int, default=None,
                   help="override: Langevin steps per refinement level")
    p.add_argument("--refine-step-size", type=float, default=None,
                   help="override: Langevin step size at the smallest level (nm^2)")
    p.add_argument("--noise-correlation", type=float, default=None, metavar="LAMBDA0",
                   help="override: bond-graph correlation of the sampled noise "
                        "(ModelConfig.noise_correlation; 0 = independent per bead)")


def config_overrides(config: Any, changes: dict[str, Any]) -> dict[str, Any]:
    """Keyword overrides of :func:`openmm_cgml.export.export_step_module` for ModelConfig
    refinement ``changes`` (``refine_levels``, ``refine_sigma_max``, ``refine_sampler``,
    ``refine_widen``, ``refine_steps``, ``refine_step_size``, ``noise_correlation``), checked
    by ``ModelConfig`` (a ``ValueError`` names the bad field)."""
    changes = {k: v for k, v in changes.items() if v is not None}
    if not changes:
        return {}
    checked = dataclasses.replace(config, **changes)
    kw: dict[str, Any] = {}
    if "refine_levels" in changes or "refine_sigma_max" in changes:
        kw["sigmas"] = checked.refine_sigmas()
    for field, key in (("refine_sampler", "sampler"), ("refine_widen", "widen"),
                       ("refine_steps", "steps_per_level"), ("refine_step_size", "step_size"),
                       ("noise_correlation", "noise_correlation")):
        if field in changes:
            kw[key] = getattr(checked, field)
    return kw


def refinement_changes(args: argparse.Namespace) -> dict[str, Any]:
    """The ModelConfig changes asked for by the options of :func:`add_refinement_arguments`."""
    return {k: v for k, v in (("refine_levels", args.refine_levels),
                              ("refine_sigma_max", args.refine_sigma_max),
                              ("refine_sampler", args.sampler),
                              ("refine_widen", args.widen),
                              ("refine_steps", args.refine_steps),
                              ("refine_step_size", args.refine_step_size),
                              ("noise_correlation", getattr(args, "noise_correlation", None)))
            if v is not None}


def refinement_overrides(config: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Export overrides from the options of :func:`add_refinement_arguments`."""
    return config_overrides(config, refinement_changes(args))
