"""``cgml simulate input.pdb --time 1us -o out/``: run a CG model on a structure in OpenMM."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    from openmm_cgml.export.options import add_network_dtype_argument, add_refinement_arguments

    p = subparsers.add_parser(
        "simulate",
        help="coarse-grain a structure and run a learned CG model on it in OpenMM",
        description="Maps the structure to beads with the model's scheme, builds an OpenMM "
                    "System + CGMLIntegrator and runs it, writing beads.pdb, trajectory.dcd, "
                    "log.csv, rg.png, summary.json/.txt and checkpoint.chk in OUTPUT.",
    )
    p.add_argument("structure", help="all-atom PDB/PDBx file")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("-t", "--time", default="10ns",
                   help="simulated time, e.g. 1us, 50ns, 200ps (default: 10ns)")
    p.add_argument("-m", "--model", default=None,
                   help="shipped model name (openmm_cgml.list_models()) or checkpoint folder "
                        "(default: the shipped default model)")
    p.add_argument("--seed", type=int, default=1,
                   help="integrator random seed, non-zero (default 1)")
    p.add_argument("--platform", default=None,
                   choices=["CUDA", "OpenCL", "CPU", "Reference", "HIP"],
                   help="OpenMM platform (default: CUDA if available, else CPU)")
    p.add_argument("--report-interval", type=int, default=None,
                   help="steps between trajectory frames and log rows (default: ~2000 per run)")
    p.add_argument("--checkpoint-interval", type=int, default=None,
                   help="steps between checkpoints (default: 10 per run)")
    p.add_argument("--checkpoint", default=None,
                   help="checkpoint file (default: OUTPUT/checkpoint.chk)")
    p.add_argument("--resume", action="store_true",
                   help="continue from the checkpoint up to the same --time, appending outputs")
    p.add_argument("--collision-threshold", type=float, default=0.1,
                   help="non-bonded bead pairs closer than this (nm) count as collisions (0.1)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--replicas", type=int, default=1,
                   help="independent copies in one System, one batched model call per step "
                        "(sampling; the summary gives per-trajectory and aggregate ns/day)")
    p.add_argument("--cuda-graphs", action=argparse.BooleanOptionalAction, default=True,
                   help="on CUDA, capture the learned step once as a CUDA graph and replay it "
                        "(molecules of <= 256 beads; default on, --no-cuda-graphs: off)")
    p.add_argument("--tf32", action="store_true",
                   help="on CUDA, TF32 tensor-core matrix multiplies in the model (faster, "
                        "10-bit mantissa in the products)")
    add_network_dtype_argument(p)
    add_refinement_arguments(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from openmm_cgml.export.options import refinement_changes
    from openmm_cgml.simulation.run import simulate

    summary = simulate(
        args.structure, args.output, time_ps=args.time, model=args.model, seed=args.seed,
        platform=args.platform, report_interval=args.report_interval,
        checkpoint_interval=args.checkpoint_interval, resume=args.resume,
        checkpoint=args.checkpoint, collision_threshold_nm=args.collision_threshold,
        progress=not args.no_progress, refinement=refinement_changes(args),
        cuda_graphs=args.cuda_graphs, replicas=args.replicas, tf32=args.tf32,
        network_dtype=args.network_dtype,
    )
    print(open(f"{args.output}/summary.txt").read(), end="")
    return 0 if summary["steps"] > 0 else 1
