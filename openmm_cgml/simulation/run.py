"""``simulate()``: a complete CG run of a structure, as ``cgml simulate`` does it.

Outputs in ``output_dir``:

- ``beads.pdb``: the bead topology with the starting bead positions (nm -> PDB A);
- ``trajectory.dcd``: bead positions every ``report_interval`` steps;
- ``log.csv``: step, time, Rg, collisions, minimum non-bonded distance, wall time, ns/day
  (with ``replicas > 1``: Rg is the mean over replicas, collisions are summed);
- ``rg.png``: radius of gyration against simulated time;
- ``summary.json`` / ``summary.txt``: simulated time, wall time, ns/day, collisions, ...;
- ``checkpoint.chk``: OpenMM checkpoint (positions, history, random generator state),
  written every ``checkpoint_interval`` steps and at the end; ``resume=True`` continues it.
"""

from __future__ import annotations

import json
import os
import platform as _platform
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import openmm
import openmm.app as app
import openmm.unit as u
import torch

from openmm_cgml.simulation.reporters import CGLogReporter, ProgressReporter
from openmm_cgml.simulation.rollout import tf32_matmul
from openmm_cgml.simulation.system import (
    combine_mappings,
    create_integrator,
    create_system,
    no_jit_respecialisation,
)
from openmm_cgml.utils import atomic_path, atomic_write

_TIME_UNITS_PS = {"fs": 1e-3, "ps": 1.0, "ns": 1e3, "us": 1e6, "µs": 1e6, "ms": 1e9}


def parse_time_ps(text: str | float) -> float:
    """Parse a duration like ``"1us"``, ``"50 ns"``, ``"200ps"`` (bare number = ps) -> ps."""
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-zµ]*)\s*",
                             str(text))
        if not match or (match.group(2) and match.group(2) not in _TIME_UNITS_PS):
            raise ValueError(f"cannot read the duration {text!r}: use a number with a unit "
                             f"({', '.join(_TIME_UNITS_PS)}), e.g. 1us or 50ns")
        value = float(match.group(1)) * _TIME_UNITS_PS[match.group(2) or "ps"]
    if not value > 0:
        raise ValueError(f"the duration must be positive, got {text!r}")
    return value


def choose_platform(name: str | None = None) -> openmm.Platform:
    """OpenMM platform by name, or the fastest usable one (CUDA if torch sees a GPU, else CPU)."""
    names = [openmm.Platform.getPlatform(i).getName()
             for i in range(openmm.Platform.getNumPlatforms())]
    if name:
        if name not in names:
            raise ValueError(f"OpenMM platform {name!r} is not available here "
                             f"(available: {', '.join(names)})")
        return openmm.Platform.getPlatformByName(name)
    if "CUDA" in names and torch.cuda.is_available():
        return openmm.Platform.getPlatformByName("CUDA")
    return openmm.Platform.getPlatformByName("CPU" if "CPU" in names else "Reference")


def _load(model: Any) -> Any:
    from openmm_cgml.pretrained import CGMLModel, load_model

    if isinstance(model, CGMLModel):
        return model
    return load_model(model)


def _jit_execution(optimize: bool) -> Any:
    """TorchScript's optimizing executor on (fixed-shape modules) or off
    (:func:`no_jit_respecialisation`), for the steps run inside the context."""
    if optimize:
        return torch.jit.optimized_execution(True)
    return no_jit_respecialisation()


def simulate(structure: str | os.PathLike, output_dir: str | os.PathLike, *,
             time_ps: float | str = "10ns", model: Any = None, seed: int = 1,
             platform: str | None = None, report_interval: int | None = None,
             checkpoint_interval: int | None = None, resume: bool = False,
             checkpoint: str | os.PathLike | None = None,
             collision_threshold_nm: float = 0.1, progress: bool = True,
             max_reports: int = 2000,
             refinement: dict[str, Any] | None = None,
             cuda_graphs: bool = True, replicas: int = 1, tf32: bool = False,
             network_dtype: str = "float32") -> dict[str, Any]:
    """Coarse-grain ``structure`` and run the CG model on it inside OpenMM; write the outputs.

    Args:
        structure: PDB/PDBx file (all-atom). It is cleaned and mapped with the model's scheme.
        output_dir: folder for the outputs (created).
        time_ps: total simulated time (ps, or a string such as ``"1us"``).
        model: ``CGMLModel``, shipped model name, checkpoint folder, or None (default model).
        seed: integrator seed (same seed -> same trajectory on the same platform); must be
            non-zero (the plugin reads 0 as "pick a random seed").
        platform: OpenMM platform name; default CUDA if available else CPU.
        report_interval: steps between DCD frames / log rows (default: ~``max_reports``
            reports over the run).
        checkpoint_interval: steps between checkpoints (default: 10 per run).
        resume: continue from ``checkpoint`` (default ``output_dir/checkpoint.chk``) up to
            the same total time, appending to the DCD and log.
        collision_threshold_nm: non-bonded bead pairs closer than this count as collisions.
        refinement: ModelConfig refinement changes for this run (e.g.
            ``{"refine_sampler": "ancestral", "refine_widen": True}``); default: the model's.
        cuda_graphs: on CUDA, replay the step as a CUDA graph (small molecules; default on,
            see ``CGMLIntegrator.setUseCudaGraphs``); summary.json says whether it was used.
        replicas: independent copies of the molecule in one System, advanced together by
            one batched model call per step (they never interact; each is placed 2 nm beyond
            the previous one along x). The outputs hold all of them; the summary gives
            ns/day per trajectory and aggregated over replicas, and each replica's mean Rg.
        tf32: on CUDA, let the model's float32 matrix multiplies use TF32 tensor cores
            (``torch.backends.cuda.matmul.allow_tf32`` for the run, then restored; 10-bit
            mantissa in the products; measured 1.2-1.5x faster steps on an H200,
            ``benchmarks/speed.py --tf32``).
        network_dtype: ``"float32"`` (as trained), ``"bfloat16"`` or ``"float16"``: dtype
            of the dynamics/score networks' weights and hidden features (positions and the
            integration stay float32; see ``openmm_cgml.export.export_step_module``). On a
            GPU with many replicas, 1.2-1.4x faster steps (H200); on a CPU, slower.
            ``benchmarks/precision.py`` compares the runs' statistics with float32.

    A static-pair module on CUDA (fixed shapes) runs with TorchScript's optimizing executor
    (kernel fusion; measured 1.1-1.3x); any other module without it (its neighbour lists
    change size every step and it would re-specialise again and again).

    Returns:
        The summary dict (also written to ``summary.json``).
    """
    structure = Path(structure)
    if not structure.is_file():
        raise FileNotFoundError(f"structure file {structure} does not exist")
    if int(seed) == 0:
        raise ValueError("--seed must be non-zero (0 means 'random' to the integrator)")
    if int(replicas) < 1:
        raise ValueError(f"--replicas must be >= 1, got {replicas}")
    replicas = int(replicas)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    total_ps = parse_time_ps(time_ps)
    chk = Path(checkpoint) if checkpoint else out / "checkpoint.chk"
    if resume and not chk.is_file():
        raise FileNotFoundError(f"--resume: no checkpoint at {chk}")

    t_setup = time.perf_counter()
    cg_model = _load(model)
    mapping = cg_model.map(str(structure))
    dt = cg_model.timestep_ps
    n_steps = int(np.ceil(total_ps / dt - 1e-9))
    if report_interval is None:
        report_interval = max(1, n_steps // max_reports)
    if checkpoint_interval is None:
        checkpoint_interval = max(report_interval, n_steps // 10)
    checkpoint_interval = max(report_interval,
                              (checkpoint_interval // report_interval) * report_interval)

    from openmm_cgml.export.options import config_overrides

    plat = choose_platform(platform)
    mappings = [mapping] * replicas
    x1 = mapping.bead_positions()
    x1 = x1[0] if x1.ndim == 3 else x1
    spacing = float(np.ptp(x1[:, 0])) + 2.0  # replicas side by side along x (cosmetic)
    topology, x0 = combine_mappings(mappings, [x1 + [i * spacing, 0.0, 0.0]
                                               for i in range(replicas)])
    # exported for the device it will run on: on CUDA small molecules get a static graph,
    # which the integrator captures once in a CUDA graph and replays every step
    module = cg_model.export(mappings, device="cuda" if plat.getName() == "CUDA" else "cpu",
                             network_dtype=network_dtype,
                             **config_overrides(cg_model.network.config, dict(refinement or {})))
    system = create_system(mappings)
    on_cuda = plat.getName() == "CUDA"
    optimize = on_cuda and bool(getattr(module, "graph_safe", False))
    integrator = create_integrator(module, seed=seed, cuda_graphs=cuda_graphs)
    simulation = app.Simulation(topology, system, integrator, plat)
    if resume:
        try:
            simulation.loadCheckpoint(str(chk))
        except Exception as err:  # OpenMM says only that the particle counts differ
            raise ValueError(f"cannot resume from {chk}: {err}. Resume with the structure, "
                             "model and --replicas of the run that wrote it") from None
    else:
        simulation.context.setPositions(x0 * u.nanometer)
        simulation.context.setVelocities(np.zeros_like(x0) * u.nanometer / u.picosecond)
        with atomic_path(out / "beads.pdb") as tmp, open(tmp, "w") as fh:
            app.PDBFile.writeFile(topology, x0 * 10.0 * u.angstrom, fh, keepIds=True)
    start_step = int(simulation.currentStep)
    if start_step >= n_steps:
        raise ValueError(f"the checkpoint is already at step {start_step} >= {n_steps} "
                         f"({total_ps} ps); ask for a longer --time")

    n = int(mapping.num_beads)
    bonds = np.asarray(mapping.cg_bonds, dtype=np.int64).reshape(-1, 2)
    log = CGLogReporter(out / "log.csv", report_interval, np.tile(mapping.bead_masses, replicas),
                        np.concatenate([bonds + i * n for i in range(replicas)]),
                        collision_threshold_nm=collision_threshold_nm, append=resume,
                        molecules=np.repeat(np.arange(replicas), n))
    dcd = app.DCDReporter(str(out / "trajectory.dcd"), report_interval,
                          append=resume and (out / "trajectory.dcd").is_file())
    bar = ProgressReporter(n_steps, report_interval, initial=start_step, timestep_ps=dt,
                           disable=not progress)
    simulation.reporters.extend([dcd, log, bar])
    if not resume:  # report the starting frame
        state = simulation.context.getState(getPositions=True)
        log.report(simulation, state)
        dcd.report(simulation, state)
    setup_s = time.perf_counter() - t_setup

    # TF32 is process-wide: switched on only around the steps, put back whatever happens
    t_run = time.perf_counter()
    try:
        with _jit_execution(optimize), tf32_matmul(bool(tf32 and on_cuda)):
            while simulation.currentStep < n_steps:
                chunk = min(checkpoint_interval - simulation.currentStep % checkpoint_interval,
                            n_steps - simulation.currentStep)
                simulation.step(chunk)
                with atomic_path(chk) as tmp:
                    simulation.saveCheckpoint(str(tmp))
    finally:
        bar.close()
        log.close()
        simulation.reporters.clear()
        del dcd  # DCDReporter closes its file when it is garbage collected
    run_s = time.perf_counter() - t_run

    steps_done = int(simulation.currentStep) - start_step
    sim_ns = steps_done * dt * 1e-3
    rows = log.rows
    collisions = int(sum(r["collisions"] for r in rows))
    rg = np.array(log.rg_per_molecule)  # [reports, replicas]
    longest = np.array(log.max_bond_per_molecule)  # [reports, replicas]
    long_bond_nm = 2.0 * float(np.mean(np.linalg.norm(x1[bonds[:, 0]] - x1[bonds[:, 1]], axis=1))) \
        if len(bonds) else float("nan")
    bond_means = np.array([r["mean_bond_nm"] for r in rows], dtype=float)
    ns_per_day = sim_ns / (run_s / 86400.0) if run_s > 0 else float("inf")
    summary = {
        "structure": str(structure),
        "model": cg_model.name,
        "model_status": cg_model.card.get("status", ""),
        "num_beads": n,
        "replicas": replicas,
        "num_atoms": int(mapping.num_atoms),
        "timestep_ps": dt,
        "steps": steps_done,
        "total_steps": int(simulation.currentStep),
        "simulated_ns": sim_ns,
        "total_simulated_ns": int(simulation.currentStep) * dt * 1e-3,
        "wall_s": run_s,
        "setup_s": setup_s,
        "ns_per_day": ns_per_day,
        "aggregate_ns_per_day": replicas * ns_per_day,
        "steps_per_s": steps_done / run_s if run_s > 0 else float("inf"),
        "platform": simulation.context.getPlatform().getName(),
        "cuda_graphs": integrator.getCudaGraphStatus(),
        "tf32": bool(tf32 and on_cuda),
        "jit_optimized": optimize,
        "network_dtype": str(module.network_dtype),
        "seed": int(seed),
        "refinement": {"sampler": str(module.sampler), "levels": int(module.sigmas.shape[0]),
                       "sigma_max_nm": float(module.sigmas[0]) if module.sigmas.numel() else 0.0,
                       "widen": bool(module.widen), "network_calls_per_step":
                       1 + int(module.sigmas.shape[0]) * int(module.steps_per_level)},
        "resumed": bool(resume),
        "report_interval": report_interval,
        "frames_logged": len(rows),
        "collision_threshold_nm": collision_threshold_nm,
        "collisions": collisions,
        "collision_rate_per_bead_frame": collisions / max(1, len(rows) * n * replicas),
        "rg_mean_nm": float(rg.mean()) if rg.size else float("nan"),
        "rg_std_nm": float(rg.std()) if rg.size else float("nan"),
        "rg_mean_per_replica_nm": [float(v) for v in rg.mean(0)] if rg.size else [],
        "bond_mean_nm": float(np.nanmean(bond_means)) if len(bonds) and rows else float("nan"),
        "bond_max_nm": float(np.nanmax(longest)) if len(bonds) and rows else float("nan"),
        # "stretched": a bond longer than twice the mean bond of the starting structure
        "long_bond_threshold_nm": long_bond_nm,
        "long_bond_frame_fraction": float(np.mean(longest > long_bond_nm))
        if len(bonds) and rows else float("nan"),
        "host": _platform.node(),
    }
    _write_summary(out, summary)
    _plot_rg(out / "log.csv", out / "rg.png", title=f"{structure.name}: {cg_model.name}")
    return summary


def _write_summary(out: Path, summary: dict[str, Any]) -> None:
    atomic_write(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    lines = [
        f"structure            {summary['structure']} ({summary['num_atoms']} atoms -> "
        f"{summary['num_beads']} beads)",
        f"model                {summary['model']} {summary['model_status']}".rstrip(),
        f"time step            {summary['timestep_ps']:g} ps",
        f"simulated            {summary['simulated_ns']:.6g} ns in {summary['steps']} steps "
        f"(total {summary['total_simulated_ns']:.6g} ns)",
        f"wall time            {summary['wall_s']:.3f} s (+ {summary['setup_s']:.2f} s setup)",
        f"speed                {summary['ns_per_day']:.4g} ns/day "
        f"({summary['steps_per_s']:.4g} steps/s) on {summary['platform']}",
        *([f"replicas             {summary['replicas']} (aggregate "
           f"{summary['aggregate_ns_per_day']:.4g} ns/day)"] if summary["replicas"] > 1 else []),
        f"collisions (< {summary['collision_threshold_nm']} nm) {summary['collisions']} over "
        f"{summary['frames_logged']} logged frames "
        f"(rate {summary['collision_rate_per_bead_frame']:.3g} per bead-frame)",
        f"Rg                   {summary['rg_mean_nm']:.3f} +- {summary['rg_std_nm']:.3f} nm",
        f"CG bonds             mean {summary['bond_mean_nm']:.3f} nm, longest "
        f"{summary['bond_max_nm']:.3f} nm; {100 * summary['long_bond_frame_fraction']:.3g} % "
        f"of frames have one > {summary['long_bond_threshold_nm']:.3f} nm (2x the start mean)",
        f"seed                 {summary['seed']}",
    ]
    atomic_write(out / "summary.txt", "\n".join(lines) + "\n")


def _plot_rg(log_csv: Path, png: Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = np.genfromtxt(log_csv, delimiter=",", names=True)
    data = np.atleast_1d(data)
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=120)
    ax.plot(data["time_ps"] * 1e-3, data["rg_nm"], lw=1)
    ax.set_xlabel("simulated time (ns)")
    ax.set_ylabel("radius of gyration (nm)")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(png) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
