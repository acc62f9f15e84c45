"""Rollout stability of a trained model under different Langevin refinement ladders.

For every molecule of a reference split, ``--replicas`` rollouts of ``--steps`` model steps
start from the reference (k frames) and stop at a blow-up (a CG bond longer than twice the
longest reference bond). Printed per ladder: median and minimum model steps completed, the
number of rollouts without blow-up or collision (non-bonded beads < 0.1 nm), and the wall time.
Also printed once: the teacher-forced one-step error of the mean prediction against two
baselines ("beads stay put", "constant velocity"), RMS over beads, nm.

Ladders (``--ladders``, comma-separated): ``none`` (no refinement), ``model`` (the model's own
settings), or ``TOPxLEVELSxSTEPS`` -- e.g. ``0.3x5x3`` = 5 geometric levels from 0.3 nm down to
the model's sigma_min, 3 Langevin steps each.

    python benchmarks/stability.py runs/polymer_small/final data/polymer --split test \\
        --steps 200 --replicas 2 --ladders none,model,0.3x5x3,0.5x5x3
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

if importlib.util.find_spec("openmm_cgml") is None:  # not installed: use the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from openmm_cgml.evaluation import load_trajectories, resolve_files, rollout_molecules  # noqa: E402
from openmm_cgml.export import export_step_module  # noqa: E402
from openmm_cgml.export.checkpoint import load_checkpoint  # noqa: E402
from openmm_cgml.models.config import SAMPLERS, geometric_sigmas  # noqa: E402
from openmm_cgml.reference.storage import TrajectoryFile  # noqa: E402
from openmm_cgml.utils import atomic_write, seed_everything  # noqa: E402


def ladder_overrides(spec: str, sigma_min: float) -> dict[str, Any]:
    """Export overrides for one ``--ladders`` entry (see the module docstring)."""
    if spec == "none":
        return {"sigmas": []}
    if spec == "model":
        return {}
    sampler, _, ladder = spec.rpartition(":")
    try:
        parts = ladder.split("x")
        if len(parts) not in (2, 3) or sampler not in ("", *SAMPLERS):
            raise ValueError
        out: dict[str, Any] = {"sigmas": geometric_sigmas(float(parts[0]), sigma_min,
                                                          int(parts[1])),
                               "steps_per_level": int(parts[2]) if len(parts) == 3 else 1}
    except ValueError:
        raise SystemExit(f"--ladders: {spec!r} is not none, model or "
                         f"[SAMPLER:]TOPxLEVELS[xSTEPS] with SAMPLER one of {', '.join(SAMPLERS)} "
                         "(e.g. 0.3x5x3, ddim:0.5x8)") from None
    if sampler:
        out["sampler"] = sampler
    return out


def one_step_errors(model: Any, reference: dict[str, Any], max_frames: int = 40
                    ) -> dict[str, float]:
    """Teacher-forced RMS error (nm) of the mean next position, and of two baselines."""
    err: dict[str, list[float]] = {"model_mean": [], "stay": [], "constant_velocity": []}
    for name in sorted(reference):
        ref = reference[name]
        with TrajectoryFile(ref.files[0]) as tf:
            mapping = tf.mapping
        module = export_step_module(model, mapping, sigmas=[])
        k, n = int(module.history_length), int(module.num_particles)
        x = torch.as_tensor(max(ref.runs, key=len), dtype=torch.float32)
        zeros = torch.zeros(int(module.noise_draws), n, 3)
        force, box = torch.zeros(n, 3), torch.zeros(3, 3)

        def rms(a: torch.Tensor, b: torch.Tensor) -> float:
            return float(((a - b) ** 2).sum(-1).mean().sqrt())

        with torch.no_grad(), torch.jit.optimized_execution(False):
            for t in range(k - 1, min(len(x) - 1, k - 1 + max_frames)):
                hist, true = x[t - k + 1:t + 1], x[t + 1]
                err["model_mean"].append(rms(module(hist, zeros, force, box), true))
                err["stay"].append(rms(hist[-1], true))
                err["constant_velocity"].append(rms(2 * hist[-1] - hist[-2], true))
    return {key: float(np.mean(v)) for key, v in err.items() if v}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", help="checkpoint folder (or a cgml train output folder)")
    ap.add_argument("reference", help="reference set: folder with splits.json, files or glob")
    ap.add_argument("--split", default="test", help="split of splits.json (test)")
    ap.add_argument("--molecules", type=int, default=6, help="at most this many molecules (6)")
    ap.add_argument("--steps", type=int, default=200, help="model steps per rollout (200)")
    ap.add_argument("--replicas", type=int, default=2, help="rollouts per molecule (2)")
    ap.add_argument("--ladders", default="none,model,0.3x5x3",
                    help="comma-separated: none, model, TOPxLEVELSxSTEPS")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args(argv)
    seed_everything(args.seed)
    model = load_checkpoint(args.checkpoint, device=args.device)
    cfg = model.config
    reference = load_trajectories(resolve_files(args.reference, args.split))
    names = sorted(reference)[: args.molecules]
    reference = {n: reference[n] for n in names}
    out: dict[str, Any] = {"checkpoint": args.checkpoint, "molecules": names,
                           "steps": args.steps, "replicas": args.replicas, "seed": args.seed,
                           "one_step_rms_nm": one_step_errors(model.to("cpu"), reference),
                           "ladders": {}}
    model.to(args.device)
    e = out["one_step_rms_nm"]
    print(f"one-step RMS error (nm): model mean {e['model_mean']:.3f}, stay put "
          f"{e['stay']:.3f}, constant velocity {e['constant_velocity']:.3f}", flush=True)
    print(f"{'ladder':<16}{'median steps':>14}{'min':>6}{'stable':>9}{'wall s':>8}", flush=True)
    for spec in [s.strip() for s in args.ladders.split(",") if s.strip()]:
        overrides = ladder_overrides(spec, cfg.sigma_min)
        t0 = time.perf_counter()
        _, results = rollout_molecules(model, reference, n_steps=args.steps,
                                       replicas=args.replicas, seed=args.seed,
                                       device=args.device, chunk_steps=50,
                                       export_overrides=overrides)
        stab = [s for r in results.values() for s in r.stability]
        done = [s["steps_completed"] for s in stab]
        row = {"overrides": dict(overrides),
               "median_steps": float(np.median(done)), "min_steps": int(min(done)),
               "stable": int(sum(bool(s["stable"]) for s in stab)), "rollouts": len(stab),
               "wall_s": time.perf_counter() - t0}
        out["ladders"][spec] = row
        print(f"{spec:<16}{row['median_steps']:>14.1f}{row['min_steps']:>6}"
              f"{row['stable']:>5}/{row['rollouts']:<3}{row['wall_s']:>8.0f}", flush=True)
        if args.json:
            atomic_write(args.json, json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
