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
    run_units,
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
    max_batch: int | None = None,
    state_path: str | os.PathLike | None = None,
    state_identity: dict[str, Any] | None = None,
    checkpoint_interval_s: float = 300.0,
    max_wall_s: float | None = None,
    stop_on_collision: bool = False,
) -> tuple[dict[str, Trajectories], dict[str, RolloutResult]]:
    """Roll out ``model`` on every reference molecule (``replicas`` runs each), batched.

    All replicas of all molecules run together in one batched step module (at most
    ``max_batch`` units per module). The starting history of each replica is cut from that
    molecule's reference trajectory (k frames, one model step apart; replicas start at
    different points when ``spread_starts``). ``n_steps`` defaults to the longest reference
    duration. A bond longer than ``max_bond_factor`` x the molecule's longest reference bond
    counts as a blow-up. With ``out_dir`` the rollouts are also written as
    ``out_dir/<name>.rep<r>.h5``. ``state_path`` ... ``max_wall_s``: a resumable run, see
    :func:`openmm_cgml.evaluation.rollouts.run_units` (the molecules and the export settings
    are part of the state's identity), as is ``stop_on_collision`` (a replica ends at its
    first collision).

    Returns ``(cg trajectories by name, rollout results by name)``; the results of one batch
    share its wall time.
    """
    from openmm_cgml.reference.storage import TrajectoryFile

    overrides = dict(export_overrides or {})
    names = sorted(reference)
    if not names:
        raise ValueError("no reference molecules to roll out")
    mappings, mapping_dicts, pdbs, attrs_list = [], [], [], []
    for name in names:
        ref = reference[name]
        if not ref.files:
            raise ValueError(f"{name}: the reference was not read from a file (need its mapping)")
        with TrajectoryFile(ref.files[0]) as tf:
            mappings.append(tf.mapping)
            mapping_dicts.append(tf.mapping_dict)
            pdbs.append(tf.atom_topology_pdb)
            attrs_list.append(dict(tf.attrs))
    probe = step_module_factory(model, mappings[0], device=device, script=False, **overrides)(1)
    k, dt = int(probe.history_length), float(probe.timestep_ps)
    del probe
    steps = n_steps
    if steps is None:
        longest = max(len(r) * reference[n].dt_ps for n in names for r in reference[n].runs)
        steps = max(1, int(round(longest / dt)))
    unit_mol: list[int] = []
    hists: list[np.ndarray] = []
    seeds: list[int] = []
    bonds: list[np.ndarray] = []
    max_bonds: list[float | None] = []
    for index, name in enumerate(names):
        ref = reference[name]
        ratio = _frame_ratio(dt, ref.dt_ps, name)
        hist = initial_histories(max(ref.runs, key=len), k, ratio, replicas, spread=spread_starts)
        bl = [
            float(np.linalg.norm(r[:, ref.bonds[:, 0]] - r[:, ref.bonds[:, 1]], axis=-1).max())
            for r in ref.runs
            if len(ref.bonds)
        ]
        max_bond = max_bond_factor * max(bl) if bl else None
        unit_mol += [index] * replicas
        hists += hist
        seeds += replica_seeds(seed, index, replicas)
        bonds += [ref.bonds] * replicas
        max_bonds += [max_bond] * replicas
    from openmm_cgml.export import build_step_module, export_step_module

    def factory(ids: list[int]):
        maps = [mappings[unit_mol[i]] for i in ids]
        if script:
            return export_step_module(model, maps, device=device, **overrides)
        return build_step_module(model, maps, device=device, **overrides)

    res_all = run_units(
        factory,
        hists,
        steps,
        seeds,
        bonds=bonds,
        max_bond_nm=max_bonds,
        collision_threshold_nm=collision_threshold_nm,
        record_interval=record_interval,
        chunk_steps=chunk_steps,
        device=device,
        max_batch=max_batch,
        progress=progress,
        state_path=state_path,
        state_identity={"molecules": names, "export_overrides": overrides,
                        "script": script, **(state_identity or {})},
        checkpoint_interval_s=checkpoint_interval_s,
        max_wall_s=max_wall_s,
        stop_on_collision=stop_on_collision,
    )
    cg: dict[str, Trajectories] = {}
    results: dict[str, RolloutResult] = {}
    for index, name in enumerate(names):
        ref = reference[name]
        ids = [u for u, m in enumerate(unit_mol) if m == index]
        res = RolloutResult(
            frames=[res_all.frames[u] for u in ids],
            stability=[res_all.stability[u] for u in ids],
            seeds=[res_all.seeds[u] for u in ids],
            timestep_ps=res_all.timestep_ps,
            record_interval=record_interval,
            wall_s=res_all.wall_s,
            model_steps=res_all.model_steps,
            extra={
                "max_bond_nm": max_bonds[ids[0]],
                "n_steps": steps,
                "history_length": k,
                "batch_units": len(unit_mol) if max_batch is None else max_batch,
            },
        )
        results[name] = res
        # frame 0 of a rollout is the last history frame, i.e. reference data: analyse only
        # the frames the model made; a molecule whose rollouts all failed at once has none
        runs = [f[1:] for f in res.frames if len(f) >= 2]
        flags = {} if runs else {"no_model_frames": True}
        cg[name] = Trajectories(
            name=name,
            runs=runs or [f[:1] for f in res.frames],
            dt_ps=res.timestep_ps * record_interval,
            masses=ref.masses,
            bonds=ref.bonds,
            bead_types=ref.bead_types,
            bead_type_names=ref.bead_type_names,
            kind=ref.kind,
            attrs={"composition": ref.attrs.get("composition"), **flags},
            steps_per_frame=record_interval,
            stability=res.stability,
            native=ref.native,
        )
        if out_dir is not None:
            cg[name].files = write_rollout_files(
                res,
                out_dir,
                safe_name(name),
                mapping_dicts[index],
                pdbs[index],
                {**attrs_list[index], "forcefield": "openmm-cgml CG model"},
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
        first = next(iter(results.values()))
        units = sum(len(r.frames) for r in results.values())
        rollout_summary = {
            "model_steps_per_replica": first.extra.get("n_steps"),
            "timestep_ps": first.timestep_ps,
            "record_interval": first.record_interval,
            "units": units,
            "batch_units": first.extra.get("batch_units"),
            "wall_s": first.wall_s,
            "replica_steps_per_s": first.model_steps / first.wall_s if first.wall_s > 0 else None,
            "ns_per_day_per_replica": (first.model_steps / units)
            * first.timestep_ps
            * 1e-3
            / first.wall_s
            * 86400.0
            if first.wall_s > 0
            else None,
            "molecules": {
                name: {"seeds": res.seeds, "max_bond_nm": res.extra.get("max_bond_nm")}
                for name, res in results.items()
            },
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
