"""Run CG models: OpenMM System/integrator construction, python rollouts, reporters.

``create_system(mapping)`` -> ``openmm.System`` of beads; ``create_integrator(step_module,
seed)`` -> ``CGMLIntegrator``; ``rollout(module, history, n_steps, seed=...)`` -> positions
from a pure-python run with the integrator's noise semantics.
"""

from openmm_cgml.simulation.rollout import (
    NoiseStream,
    capture_step,
    history_from_state,
    rollout,
    tf32_matmul,
)
from openmm_cgml.simulation.system import (
    combine_mappings,
    create_force,
    create_integrator,
    create_system,
    no_jit_respecialisation,
)

__all__ = [
    "NoiseStream",
    "capture_step",
    "combine_mappings",
    "create_force",
    "create_integrator",
    "create_system",
    "history_from_state",
    "no_jit_respecialisation",
    "rollout",
    "tf32_matmul",
]
