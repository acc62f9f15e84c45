"""Command-line options that override a model's refinement settings at export/rollout time."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from openmm_cgml.models.config import SAMPLERS


def add_refinement_arguments(p: argparse.ArgumentParser) -> None:
    """``--sampler``, ``--widen``, ``--refine-levels``, ``--refine-sigma-max``,
    ``--refine-steps`` and ``--refine-step-size`` (all default to the model's own config)."""
    p.add_argument("--sampler", choices=SAMPLERS, default=None,
                   help="override: refinement sampler (langevin = annealed Langevin; ddim, "
                        "ancestral = one diffusion step per level)")
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


def refinement_overrides(config: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Keyword overrides of :func:`openmm_cgml.export.export_step_module` from the options
    of :func:`add_refinement_arguments`. The overridden ladder is checked by
    ``ModelConfig`` (a ``ValueError`` names the bad field)."""
    kw: dict[str, Any] = {}
    if args.refine_steps is not None:
        kw["steps_per_level"] = args.refine_steps
    if args.refine_step_size is not None:
        kw["step_size"] = args.refine_step_size
    changes = {k: v for k, v in (("refine_levels", args.refine_levels),
                                 ("refine_sigma_max", args.refine_sigma_max),
                                 ("refine_sampler", args.sampler),
                                 ("refine_widen", args.widen)) if v is not None}
    if changes:
        checked = dataclasses.replace(config, **changes)
        if "refine_levels" in changes or "refine_sigma_max" in changes:
            kw["sigmas"] = checked.refine_sigmas()
        if args.sampler is not None:
            kw["sampler"] = args.sampler
        if args.widen is not None:
            kw["widen"] = args.widen
    return kw
