"""End to end: CG rollouts of a model on reference molecules, metrics, report.

``run_evaluation`` = (b) rollouts (:func:`rollout_molecules`, which calls the export and
simulation layers) + (a) metrics (:func:`openmm_cgml.evaluation.metrics.evaluate_sets`, arrays
only) + the report. With ``cg`` trajectories given instead of a model, step (b) is skipped, so
any two sets of bead trajectories can be compared.
"""

from __future__ import annotations

import datetime
import os
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np

from openmm_cgml.evaluation.data import Trajectories
from openmm_cgml.evaluation.metrics import EvaluationSettings, evaluate_sets
from openmm_cgml.evaluation.report import make_figures, safe_name, write_metrics_json, write_report
from openmm_cgml.evaluation.rollouts import (
    RolloutResult,
    initial_histories,
    replica_seeds,
    run_replicas,
    write_rollout_files,
)

__all__ = ["step_module_factory", "rollout_molecules", "run_evaluation", "environment_info"]


def step_module_factory(
    model: Any, mapping: Any, device: str = "cpu", script: bool = True, **overrides: Any
):
    """``f(n) -> step module`` for ``n`` copies of ``mapping`` (export layer).

    ``overrides`` go to ``export_step_module`` (e.g. ``sigmas=[]`` switches the score
    refinement off, the "no refinement" ablation). ``script=False`` uses the eager module
    (same maths, skips TorchScript compilation).
    """
    from openmm_cgml.export import build_step_module, export_step_module

    def factory(n: int):
        maps = [mapping] * n
        if script:
            return export_step_module(model, maps, device=device, **overrides)
        return build_step_module(model, maps, device=device, **overrides)

    return factory


def _frame_ratio(model_dt: float, ref_dt: float, name: str) -> int:
    ratio = model_dt / ref_dt
    r = int(round(ratio))
    if r < 1 or abs(ratio - r) > 1e-3 * max(1.0, ratio):
        raise ValueError(
            f"{name}: the model step ({model_dt} ps) is not a whole multiple of the reference "
            f"frame spacing ({ref_dt} ps); regenerate the reference at a compatible stride"
        )
    return r


def rollout_molecules(
    model: Any,
    reference: dict[str, Trajectories],
    *,
    n_steps: int | None = None,
    replicas: int = 4,
    seed: int = 0,
    record_interval: int = 1,
    device: str = "cpu",
    chunk_steps: int = 500,
    collision_threshold_nm: float = 0.1,
    max_bond_factor: float = 2.0,
    out_dir: str | os.PathLike | None = None,
    export_overrides: dict[str, Any] | None = None,
    script: bool = True,
    progress: bool = False,
    spread_starts: bool = True,
) -> tuple[dict[str, Trajectories], dict[str, RolloutResult]]:
    """Roll out ``model`` on every reference molecule (``replicas`` runs each).

    The starting history of each replica is cut from that molecule's reference trajectory
    (k frames, one model step apart; replicas start at different points when
    ``spread_starts``). ``n_steps`` defaults to the reference duration. A bond longer than
    ``max_bond_factor`` x the longest reference bond counts as a blow-up. With ``out_dir`` the
    rollouts are also written as ``out_dir/<name>.rep<r>.h5``.

    Returns ``(cg trajectories by name, rollout results by name)``.
    """
    from openmm_cgml.reference.storage import TrajectoryFile

    overrides = dict(export_overrides or {})
    cg: dict[str, Trajectories] = {}
    results: dict[str, RolloutResult] = {}
    for index, name in enumerate(sorted(reference)):
        ref = reference[name]
        if not ref.files:
            raise ValueError(f"{name}: the reference was not read from a file (need its mapping)")
        with TrajectoryFile(ref.files[0]) as tf:
            mapping = tf.mapping
            mapping_dict = tf.mapping_dict
            pdb = tf.atom_topology_pdb
            attrs = dict(tf.attrs)
        factory = step_module_factory(model, mapping, device=device, script=script, **overrides)
        probe = factory(1)
        k, dt = int(probe.history_length), float(probe.timestep_ps)
        ratio = _frame_ratio(dt, ref.dt_ps, name)
        longest = max(ref.runs, key=len)
        hist = initial_histories(longest, k, ratio, replicas, spread=spread_starts)
        steps = n_steps
        if steps is None:
            steps = max(1, int(round(max(len(r) for r in ref.runs) * ref.dt_ps / dt)))
        bl = [
            np.linalg.norm(r[:, ref.bonds[:, 0]] - r[:, ref.bonds[:, 1]], axis=-1).max()
            for r in ref.runs
            if len(ref.bonds)
        ]
        max_bond = max_bond_factor * float(max(bl)) if bl else None
        res = run_replicas(
            factory,
            hist,
            steps,
            replica_seeds(seed, index, replicas),
            bonds=ref.bonds,
            collision_threshold_nm=collision_threshold_nm,
            max_bond_nm=max_bond,
            record_interval=record_interval,
            chunk_steps=chunk_steps,
            device=device,
            progress=progress,
        )
        res.extra.update(max_bond_nm=max_bond, n_steps=steps, history_length=k)
        results[name] = res
        runs = [f for f in res.frames if len(f) >= 2] or res.frames
        cg[name] = Trajectories(
            name=name,
            runs=runs,
            dt_ps=res.timestep_ps * record_interval,
            masses=ref.masses,
            bonds=ref.bonds,
            bead_types=ref.bead_types,
            bead_type_names=ref.bead_type_names,
            kind=ref.kind,
            attrs={"composition": ref.attrs.get("composition")},
            steps_per_frame=record_interval,
            stability=res.stability,
            native=ref.native,
        )
        if out_dir is not None:
            cg[name].files = write_rollout_files(
                res,
                out_dir,
                safe_name(name),
                mapping_dict,
                pdb,
                {**attrs, "forcefield": "openmm-cgml CG model"},
            )
    return cg, results


def environment_info(device: str = "cpu") -> dict[str, Any]:
    """Date, host, Python/torch/openmm versions and the device (for the report)."""
    info: dict[str, Any] = {
        "date_utc": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "device": device,
    }
    try:
        import torch

        info["torch"] = torch.__version__
        if str(device).startswith("cuda") and torch.cuda.is_available():
            info["device_name"] = torch.cuda.get_device_name(0)
    except ImportError:  # pragma: no cover
        pass
    try:
        import openmm

        info["openmm"] = openmm.__version__
    except ImportError:  # pragma: no cover
        pass
    from openmm_cgml import __version__

    info["openmm_cgml"] = __version__
    return info


def run_evaluation(
    reference: dict[str, Trajectories],
    out_dir: str | os.PathLike,
    *,
    model: Any = None,
    cg: dict[str, Trajectories] | None = None,
    settings: EvaluationSettings | None = None,
    rollout_options: dict[str, Any] | None = None,
    save_rollouts: bool = True,
    info: dict[str, Any] | None = None,
    title: str = "openmm-cgml evaluation",
) -> dict[str, Any]:
    """Evaluate ``model`` (rolled out on the reference molecules) or given ``cg`` trajectories.

    Writes ``out_dir/metrics.json``, ``out_dir/report.md``, PNG figures (and, with a model and
    ``save_rollouts``, ``out_dir/rollouts/*.h5``). Returns the metrics dict.
    """
    if (model is None) == (cg is None):
        raise ValueError("give either a model (to roll out) or CG trajectories, not both/neither")
    s = settings or EvaluationSettings()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    opts = dict(rollout_options or {})
    extra_info = dict(info or {})
    rollout_summary: dict[str, Any] = {}
    if model is not None:
        opts.setdefault("collision_threshold_nm", s.collision_threshold_nm)
        cg, results = rollout_molecules(
            model, reference, out_dir=(out / "rollouts") if save_rollouts else None, **opts
        )
        for name, res in results.items():
            rollout_summary[name] = {
                "replicas": len(res.frames),
                "model_steps_per_replica": res.extra.get("n_steps"),
                "timestep_ps": res.timestep_ps,
                "record_interval": res.record_interval,
                "wall_s": res.wall_s,
                "ns_per_day_per_replica": res.ns_per_day,
                "replica_steps_per_s": res.model_steps / res.wall_s if res.wall_s > 0 else None,
                "seeds": res.seeds,
                "max_bond_nm": res.extra.get("max_bond_nm"),
            }
    assert cg is not None
    metrics, arts = evaluate_sets(cg, reference, s)
    metrics["rollouts"] = rollout_summary
    metrics["info"] = {**environment_info(opts.get("device", "cpu")), **extra_info}
    figures = make_figures(out, metrics, arts)
    metrics["figures"] = figures
    write_metrics_json(out / "metrics.json", metrics)
    write_report(out, metrics, figures, title=title)
    return metrics
