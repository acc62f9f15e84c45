"""Compare CG runs with reference MD: metrics, rollouts, reports, ``cgml evaluate``.

Two stages, usable separately:

(a) :func:`evaluate_sets` compares any two sets of bead trajectories
    (:class:`Trajectories`, e.g. from :func:`load_trajectories`) -- no model needed;
(b) :func:`rollout_molecules` rolls a model out on reference molecules (export + simulation
    layers) and returns CG trajectories for (a).

:func:`run_evaluation` does both and writes ``metrics.json``, ``report.md`` and PNG figures.
"""

from openmm_cgml.evaluation.data import Trajectories, load_trajectories, resolve_files
from openmm_cgml.evaluation.metrics import (
    EvaluationSettings,
    SystemObservables,
    aggregate,
    compare,
    evaluate_sets,
    observe,
)
from openmm_cgml.evaluation.pipeline import (
    environment_info,
    rollout_molecules,
    run_evaluation,
    step_module_factory,
)
from openmm_cgml.evaluation.report import make_figures, write_metrics_json, write_report
from openmm_cgml.evaluation.rollouts import (
    RolloutResult,
    initial_histories,
    replica_seeds,
    run_replicas,
    run_units,
    write_rollout_files,
)

__all__ = [
    "EvaluationSettings",
    "RolloutResult",
    "SystemObservables",
    "Trajectories",
    "aggregate",
    "compare",
    "environment_info",
    "evaluate_sets",
    "initial_histories",
    "load_trajectories",
    "make_figures",
    "observe",
    "replica_seeds",
    "resolve_files",
    "rollout_molecules",
    "run_evaluation",
    "run_replicas",
    "run_units",
    "step_module_factory",
    "write_metrics_json",
    "write_report",
    "write_rollout_files",
]
