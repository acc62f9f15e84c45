"""Where the wall time of batched evaluation rollouts goes, measured side by side in one run.

``cgml evaluate`` (and ``paper_polymer.py``) step all replicas of all molecules in one batched
module, then check every model step of every replica for collisions and blow-ups on the host.
This script runs such a batch (``rollout_molecules``, the code those commands use) and splits
its wall time per model step into: the step module calls (network, integration, and the
integrator-style noise draws), the noise draws alone, and the collision check. The check is
then timed again on the same frames with the dense ``N^2`` search that the k-d tree search
replaced (both must agree), so the figure printed last is the saving per step.

    python benchmarks/rollout_overhead.py --data tests/data/polymer --split train \\
        --model polymer-comb-equivariant --replicas 16 --steps 200 --device cuda
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

if importlib.util.find_spec("openmm_cgml") is None:  # not installed: use the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from openmm_cgml import analysis as A  # noqa: E402
from openmm_cgml.analysis import collisions as C  # noqa: E402
from openmm_cgml.evaluation import load_trajectories, resolve_files, rollout_molecules  # noqa: E402
from openmm_cgml.export.checkpoint import load_checkpoint  # noqa: E402
from openmm_cgml.pretrained import model_path  # noqa: E402
from openmm_cgml.simulation import NoiseStream  # noqa: E402


def measure(model: Any, reference: dict, replicas: int, steps: int, device: str,
            seed: int) -> dict[str, Any]:
    """Run the batch with timers around the collision check and the noise draws."""
    checked: list[tuple[np.ndarray, np.ndarray]] = []
    timers = {"check_s": 0.0, "noise_s": 0.0}
    check, draw = A.colliding_beads, NoiseStream.draw

    def timed_check(positions, threshold=0.1, bonds=None, *a, **kw):
        t0 = time.perf_counter()
        out = check(positions, threshold, bonds, *a, **kw)
        timers["check_s"] += time.perf_counter() - t0
        checked.append((np.asarray(positions), np.asarray(bonds)))
        return out

    def timed_draw(self, *a, **kw):
        t0 = time.perf_counter()
        out = draw(self, *a, **kw)
        timers["noise_s"] += time.perf_counter() - t0
        return out

    A.colliding_beads, NoiseStream.draw = timed_check, timed_draw
    try:
        t0 = time.perf_counter()
        _, results = rollout_molecules(model, reference, n_steps=steps, replicas=replicas,
                                       seed=seed, device=device, chunk_steps=100)
        total = time.perf_counter() - t0
    finally:
        A.colliding_beads, NoiseStream.draw = check, draw
    module_s = next(iter(results.values())).wall_s  # one batch: shared by all molecules
    # the same frames through the dense search that the k-d tree replaced
    t0 = time.perf_counter()
    for x, bonds in checked:
        x = np.asarray(x, dtype=np.float64)
        excl = C.excluded_pairs(bonds, x.shape[1], 1)
        dense = C._colliding_dense(x, 0.1, excl, None) | ~np.isfinite(x).all(-1)
        if not np.array_equal(dense, check(x, 0.1, bonds)):
            raise SystemExit("the k-d tree and the dense collision search disagree")
    dense_s = time.perf_counter() - t0
    units = len(reference) * replicas
    beads = sum(len(r.masses) for r in reference.values()) * replicas
    ms = 1e3 / steps
    return {
        "units": units, "beads": beads, "steps": steps, "device": device,
        "total_ms_per_step": total * ms,
        "module_ms_per_step": module_s * ms,
        "noise_ms_per_step": timers["noise_s"] * ms,
        "check_ms_per_step": timers["check_s"] * ms,
        "dense_check_ms_per_step": dense_s * ms,
        "check_speedup": dense_s / max(timers["check_s"], 1e-12),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="tests/data/polymer", help="reference set (splits.json)")
    ap.add_argument("--split", default="train")
    ap.add_argument("--model", default="polymer-comb-equivariant",
                    help="checkpoint folder or shipped model name")
    ap.add_argument("--replicas", type=int, default=4, help="rollouts per molecule")
    ap.add_argument("--steps", type=int, default=100, help="model steps")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--output", default=None, help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    if args.replicas < 1 or args.steps < 1:
        raise SystemExit("--replicas and --steps must be >= 1")
    source = args.model if Path(args.model).exists() else model_path(args.model)
    model = load_checkpoint(source, device=args.device)
    reference = load_trajectories(resolve_files(args.data, args.split))
    res = measure(model, reference, args.replicas, args.steps, args.device, args.seed)
    print(f"{res['units']} rollouts ({res['beads']} beads) x {res['steps']} steps on "
          f"{res['device']}, ms per model step:")
    for key in ("total", "module", "noise", "check", "dense_check"):
        print(f"  {key.replace('_', ' '):<12} {res[key + '_ms_per_step']:9.2f}")
    print(f"  collision check: {res['check_speedup']:.1f}x faster than the dense search "
          f"(the k-d tree is used from {C._TREE_MIN_BEADS} beads per molecule)")
    if args.output:
        Path(args.output).write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
