"""Export a trained CG model to TorchScript modules that the OpenMM plugin runs.

``export_step_module(model, mapping)`` -> step module for ``CGMLIntegrator`` (contract in
``../shared/DESIGN.md``); ``export_score_force(model, mapping)`` -> energy module for
``CGMLForce`` (forces = kT x score). ``cgml export CHECKPOINT -s structure.pdb -o model.pt``
does the same from the command line.
"""

from openmm_cgml.export.energy import ScoreForceModule, export_score_force
from openmm_cgml.export.export import (
    InferenceSettings,
    bead_embeddings,
    build_step_module,
    check_step_module,
    export_step_module,
    fine_graph_tensors,
    geometric_ladder,
    inference_settings,
    load_step_module,
    save_module,
)
from openmm_cgml.export.step import StepModule

__all__ = [
    "InferenceSettings",
    "ScoreForceModule",
    "StepModule",
    "export_score_force",
    "bead_embeddings",
    "build_step_module",
    "check_step_module",
    "export_step_module",
    "fine_graph_tensors",
    "geometric_ladder",
    "inference_settings",
    "load_step_module",
    "save_module",
]
