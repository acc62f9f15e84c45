"""``cgml train CONFIG.yaml`` (single process, or under ``torchrun`` for DDP)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train", help="train a CG model from a YAML config",
        description="Train the Embedding/Dynamics/Score model end to end. For several GPUs "
                    "(or CPU processes) run the same command under torchrun: "
                    "torchrun --nproc_per_node 2 -m openmm_cgml.cli train config.yaml")
    p.add_argument("config", help="YAML training config (see examples/configs/)")
    p.add_argument("--resume", action="store_true",
                   help="continue from the newest checkpoint in the output directory")
    p.add_argument("-o", "--output", help="output directory (overrides 'output' in the config)")
    p.add_argument("--seed", type=int, help="random seed (overrides 'seed' in the config)")
    p.add_argument("--max-steps", type=int, help="overrides train.max_steps")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="overrides train.device")
    p.add_argument("--stop-after", type=int, default=None,
                   help="stop (with a checkpoint) after this many steps of this invocation; "
                        "continue later with --resume")
    p.add_argument("--init-from", metavar="MODEL_FOLDER",
                   help="fine-tune: start from the weights of this model folder (a checkpoint "
                        "such as runs/x/final, or a shipped model's folder, "
                        "openmm_cgml.pretrained.model_path(NAME)); overrides train.init_from")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override any config value, e.g. --set train.lr=1e-3 (repeatable)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from openmm_cgml.training.config import load_train_config
    from openmm_cgml.training.trainer import train

    overrides = list(args.set)
    if args.output is not None:
        overrides.append(f"output={args.output}")
    if args.seed is not None:
        overrides.append(f"seed={args.seed}")
    if args.max_steps is not None:
        overrides.append(f"train.max_steps={args.max_steps}")
    if args.device is not None:
        overrides.append(f"train.device={args.device}")
    if args.init_from is not None:
        overrides.append(f"train.init_from={args.init_from}")
    config = load_train_config(args.config, overrides)
    metrics = train(config, resume=args.resume, progress=not args.no_progress,
                    stop_after=args.stop_after)
    import os
    if int(os.environ.get("RANK", "0")) == 0:
        shown = {k: round(v, 5) if isinstance(v, float) else v for k, v in metrics.items()}
        print(f"cgml train: done; output in {config.output}; last metrics: {shown}")
    return 0
