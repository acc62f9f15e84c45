"""``cgml evaluate``: CG rollouts of a model vs reference trajectories -> report + metrics.

Examples::

    # roll a trained model out on the held-out test molecules and compare
    cgml evaluate data/polymer --split test --model runs/polymer/ckpt -o eval/polymer \\
        --steps 100000 --replicas 4 --record-interval 10 --device cuda --seed 0

    # compare existing CG trajectories (e.g. from `cgml simulate`) with the reference
    cgml evaluate data/polymer --split test --cg eval/polymer/rollouts -o eval/again

Writes ``OUT/report.md``, ``OUT/metrics.json``, PNG figures and (with ``--model``)
``OUT/rollouts/<name>.rep<r>.h5``. Long rollouts survive interruption: their state is kept in
``OUT/rollout_state.pt`` (``--checkpoint-interval``; ``--max-wall`` pauses them on purpose)
and the same command continues them, with the same trajectories as an uninterrupted run.
A paused run is bound to the model's weights and statistics and to its config as the command
resolves it: editing ``config.json``'s metadata, or a default the command overrides, does not
refuse it; any other change does, naming what differs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    from openmm_cgml.export.options import (
        add_network_dtype_argument,
        add_refinement_arguments,
    )

    p = subparsers.add_parser(
        "evaluate",
        help="compare CG rollouts with reference MD (Rg, relaxation times, collisions, FES)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "reference",
        nargs="+",
        help="reference trajectories: .h5 files, a folder, a glob or splits.json",
    )
    p.add_argument(
        "--split",
        default=None,
        help="with a folder/splits.json: which split to evaluate (e.g. test)",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--model",
        help="checkpoint directory (model.safetensors + config.json), "
        "a `cgml train` output folder (its final/ or best/ checkpoint), "
        "or a shipped model name (openmm_cgml.list_models())",
    )
    src.add_argument(
        "--cg",
        nargs="+",
        help="existing CG trajectories (.h5 / folder / glob); "
        "grouped with the reference by their 'name' attribute",
    )
    p.add_argument("-o", "--output", required=True, help="output folder for the report")
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        help="model steps per rollout (default: the reference duration)",
    )
    p.add_argument("--replicas", type=int, default=4, help="rollouts per molecule (4)")
    p.add_argument(
        "--record-interval",
        type=int,
        default=1,
        help="keep every this many model steps for analysis (1); collisions and "
        "blow-ups are checked on every step",
    )
    p.add_argument(
        "--chunk-steps",
        type=int,
        default=500,
        help="model steps per call of the simulation layer (500)",
    )
    p.add_argument(
        "--max-wall",
        type=float,
        default=None,
        metavar="SECONDS",
        help="pause the rollouts after this many seconds (checked between chunks), their "
        "state kept in OUT/rollout_state.pt; the same command continues them",
    )
    p.add_argument(
        "--checkpoint-interval",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="write OUT/rollout_state.pt this often (300): an interrupted evaluation run "
        "again with the same command continues from it; removed once the report is written",
    )
    p.add_argument(
        "--stop-on-collision",
        action="store_true",
        help="end a rollout at its first collision as well as at a blow-up: enough for the "
        "stability figure, and faster for long runs (the batch shrinks); the other figures "
        "then cover each rollout up to its first collision",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (0)")
    p.add_argument("--device", default="cpu", help="torch device for the model (cpu, cuda)")
    p.add_argument(
        "--no-refinement",
        action="store_true",
        help="switch the score-network refinement off (ablation)",
    )
    add_refinement_arguments(p)
    add_network_dtype_argument(p)
    p.add_argument(
        "--tf32",
        action="store_true",
        help="on CUDA, TF32 tensor-core matrix multiplies in the model during the rollouts "
        "(faster, 10-bit mantissa in the products)",
    )
    p.add_argument(
        "--eager",
        action="store_true",
        help="run the eager step module instead of the TorchScript export",
    )
    p.add_argument("--no-save-rollouts", action="store_true", help="do not write rollout .h5")
    p.add_argument(
        "--collision-threshold",
        type=float,
        default=0.1,
        help="non-bonded bead pairs closer than this (nm) collide (0.1)",
    )
    p.add_argument(
        "--max-bond-factor",
        type=float,
        default=2.0,
        help="a bond longer than this x the longest reference bond is a blow-up (2)",
    )
    p.add_argument(
        "--tau-method",
        choices=["integrated", "exp_fit"],
        default="integrated",
        help="Rg^2 relaxation-time estimator (integrated: Sokal window, c=5)",
    )
    p.add_argument(
        "--discard-frames",
        type=int,
        default=0,
        help="frames dropped at the start of every run before analysis (0)",
    )
    p.add_argument(
        "--contact-cutoff", type=float, default=1.0, help="contact-map distance cutoff, nm (1.0)"
    )
    p.add_argument("--tica-lag", type=int, default=10, help="TICA lag, frames (10)")
    p.add_argument(
        "--frame-stride", type=int, default=1, help="read every this many reference frames (1)"
    )
    p.add_argument(
        "--max-frames",
        type=int,
        default=None,
        help="read at most this many frames per reference file",
    )
    p.add_argument(
        "--max-molecules",
        type=int,
        default=None,
        help="evaluate only the first N molecules (sorted by name)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)
    _register_fit_noise(subparsers)


def _register_fit_noise(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "fit-noise",
        help="fit the bond-graph correlation of a model's sampled noise on reference MD",
        description="Teacher-force a trained model on reference trajectories (use the "
        "training split), fit lambda0 of the bond-graph correlated noise "
        "(openmm_cgml.models.noise) by maximum likelihood and, with --write, store it as "
        "model.noise_correlation in the checkpoint's config.json.\n\n"
        "    cgml fit-noise runs/polymer/final data/polymer --split train --write",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="checkpoint / model folder (config.json + model.safetensors)")
    p.add_argument("reference", nargs="+",
                   help="reference trajectories: .h5 files, a folder, a glob or splits.json")
    p.add_argument("--split", default=None, help="with a folder/splits.json: which split "
                   "(use train: the fit is part of training)")
    p.add_argument("--windows", type=int, default=64,
                   help="teacher-forced windows drawn per file (default 64)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--seed", type=int, default=0, help="seed of the window draws")
    p.add_argument("--write", action="store_true",
                   help="store the fitted lambda0 in MODEL/config.json (atomic rewrite)")
    p.add_argument("--json", default=None, help="also write the fit (profile included) here")
    p.set_defaults(func=run_fit_noise)


def run_fit_noise(args: argparse.Namespace) -> int:
    import json

    from openmm_cgml.evaluation.noise_fit import fit_checkpoint_noise
    from openmm_cgml.utils import atomic_write

    if args.windows < 1:
        raise ValueError("--windows must be >= 1")
    fit = fit_checkpoint_noise(args.model, args.reference, args.split, windows=args.windows,
                               device=args.device, seed=args.seed, write=args.write)
    source = {"reference": [str(a) for a in args.reference], "split": args.split}
    print(f"{fit.molecules} molecules, {fit.windows} windows: residual RMS {fit.residual_rms:.3f}, "
          f"bonded correlation {fit.bonded_correlation:.3f}\n"
          f"lambda0 = {fit.lambda0:g} (log-likelihood gain over independent noise "
          f"{fit.gain_per_bead:+.4f} nats per bead-component)")
    if args.json:
        atomic_write(args.json, json.dumps({**fit.to_dict(), **source, "seed": args.seed,
                                            "windows_per_file": args.windows}, indent=1) + "\n")
    if args.write:
        print(f"wrote model.noise_correlation = {fit.lambda0:g} to {args.model}/config.json")
    return 0


def run(args: argparse.Namespace) -> int:
    from openmm_cgml.evaluation.data import load_trajectories, resolve_files
    from openmm_cgml.evaluation.metrics import EvaluationSettings
    from openmm_cgml.evaluation.pipeline import run_evaluation
    from openmm_cgml.utils import seed_everything

    for name in ("replicas", "record_interval", "chunk_steps", "frame_stride"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1")
    if args.steps is not None and args.steps < 1:
        raise ValueError("--steps must be >= 1")
    seed_everything(args.seed)
    ref_files = resolve_files(args.reference, args.split)
    reference = load_trajectories(ref_files, args.frame_stride, args.max_frames)
    if args.max_molecules is not None:
        reference = {k: reference[k] for k in sorted(reference)[: args.max_molecules]}
    settings = EvaluationSettings(
        collision_threshold_nm=args.collision_threshold,
        tau_method=args.tau_method,
        discard_frames=args.discard_frames,
        contact_cutoff_nm=args.contact_cutoff,
        tica_lag_frames=args.tica_lag,
        seed=args.seed,
    )
    info = {
        "command": "cgml " + " ".join(sys.argv[1:]) if sys.argv[1:] else "cgml evaluate",
        "reference_files": len(ref_files),
    }
    if args.max_wall is not None and not args.max_wall > 0:
        raise ValueError("--max-wall must be > 0 seconds")
    if not args.checkpoint_interval > 0:
        raise ValueError("--checkpoint-interval must be > 0 seconds")
    state_path = Path(args.output) / "rollout_state.pt"
    if args.model:
        from openmm_cgml.evaluation.rollouts import RolloutsPaused, upgrade_state_identity
        from openmm_cgml.export.checkpoint import (
            checkpoint_fingerprint,
            load_checkpoint,
            run_identity,
        )
        from openmm_cgml.export.options import config_overrides, refinement_changes
        from openmm_cgml.pretrained import model_path

        # a checkpoint folder/file as given, else a shipped model name
        source = args.model if Path(args.model).exists() else model_path(args.model)
        model = load_checkpoint(source, device=args.device)
        changes = refinement_changes(args)
        if args.no_refinement:
            changes["refine_levels"] = 0
        # a paused run is bound to the weights, statistics and the config as this run
        # resolves it (not to config.json's metadata or defaults the run overrides); states
        # paused before this identity existed were bound to all the model files
        identity = run_identity(source, model, changes)
        if state_path.is_file():
            upgrade_state_identity(state_path, {"weights": checkpoint_fingerprint(source)},
                                   identity)
        info["model"] = str(args.model)
        info["network_dtype"] = args.network_dtype
        info["tf32"] = bool(args.tf32)
        info["stop_on_collision"] = bool(args.stop_on_collision)
        options = {
            "n_steps": args.steps,
            "replicas": args.replicas,
            "seed": args.seed,
            "record_interval": args.record_interval,
            "device": args.device,
            "chunk_steps": args.chunk_steps,
            "max_bond_factor": args.max_bond_factor,
            "export_overrides": {
                **config_overrides(model.config, changes),
                **({"network_dtype": args.network_dtype}
                   if args.network_dtype != "float32" else {}),
            },
            "script": not args.eager,
            "progress": not args.no_progress,
            # resumable: the state of the rollouts lives in OUT until the report is written;
            # reference files by name (their content is checked through the start histories),
            # so that a run continues from another folder or machine
            "state_path": state_path,
            "state_identity": {"model": str(args.model), **identity,
                               "frame_stride": args.frame_stride,
                               "max_frames": args.max_frames,
                               "reference_files": [Path(f).name for f in ref_files]},
            "checkpoint_interval_s": args.checkpoint_interval,
            "max_wall_s": args.max_wall,
            "stop_on_collision": args.stop_on_collision,
        }
        from openmm_cgml.simulation import tf32_matmul

        try:
            with tf32_matmul(args.tf32):
                metrics = run_evaluation(
                    reference,
                    args.output,
                    model=model,
                    settings=settings,
                    rollout_options=options,
                    save_rollouts=not args.no_save_rollouts,
                    info=info,
                )
        except RolloutsPaused as paused:
            print(str(paused))
            return 0
        state_path.unlink(missing_ok=True)
    else:
        cg = load_trajectories(resolve_files(args.cg))
        metrics = run_evaluation(reference, args.output, cg=cg, settings=settings, info=info)
    agg = metrics["aggregate"]

    def f(v: Any) -> str:
        return "-" if v is None else f"{v:.3f}"

    def g(v: Any) -> str:  # rates: ~1e-5 per bead-step
        return "-" if v is None else f"{v:.2g}"

    print(
        f"evaluated {agg['num_systems']} molecules: r2(Rg) = {f(agg['rg_mean'].get('r2'))}, "
        f"r2(tau Rg^2) = {f(agg['rg2_tau'].get('r2'))} (ceiling at these run lengths "
        f"{f(agg['rg2_tau'].get('r2_ceiling'))}), r2(ln tau) = "
        f"{f(agg.get('rg2_tau_log', {}).get('r2'))}, collision rate = "
        f"{g(agg.get('collision_rate'))} per bead-step, close contacts = "
        f"{g(agg.get('mean_close_contact_fraction'))} of frames, stretched bonds = "
        f"{g(agg.get('mean_stretched_bond_fraction'))} of frames, stable = "
        f"{f(agg.get('stable_fraction'))} (without a blow-up "
        f"{f(agg.get('blowup_free_fraction'))}, without a collision "
        f"{f(agg.get('collision_free_fraction'))})\n"
        f"report: {args.output}/report.md"
    )
    return 0
