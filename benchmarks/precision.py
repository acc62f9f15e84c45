"""Network precision: float32 vs float16 / bfloat16 dynamics and score networks, side by side.

For each ``--dtypes`` entry the same structure is simulated with ``cgml simulate``'s code
path (:func:`openmm_cgml.simulation.simulate`: plugin, OpenMM Simulation, same seed, same
replicas) and the run's figures are put in one table:

- speed: steps/s and aggregate simulated ns/day over the replicas (wall clock of the steps);
- statistics: radius of gyration (mean over replicas and frames; standard error from the
  spread of the per-replica means), mean CG bond length, fraction of molecule-frames with a
  bond longer than twice the starting mean bond, collisions per bead-frame (< 0.1 nm);
- one-step deviation from float32: the same step module input (history = the start
  structure repeated, one fixed set of noise draws) through the float32 and the reduced
  precision module; RMS and maximum bead displacement difference (nm).

Units: nm, ps, ns/day. Usage::

    python benchmarks/precision.py --device cuda --replicas 100 --time 200ns --json p.json
    python benchmarks/precision.py --quick            # CPU smoke run (a few steps)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import openmm.app as app
import torch

from openmm_cgml import load_model
from openmm_cgml.export.export import build_step_module
from openmm_cgml.models.model import NETWORK_DTYPES
from openmm_cgml.simulation.run import simulate
from openmm_cgml.utils import atomic_write

VILLIN = os.path.join(os.path.dirname(app.__file__), "data", "test.pdb")


def one_step_deviation(model: Any, mapping: Any, dtype: str, device: str,
                       seed: int = 0) -> dict[str, float]:
    """RMS / max difference (nm) between one float32 step and one ``dtype`` step of
    ``mapping`` from identical inputs (start structure as history, fixed noise draws)."""
    dev = torch.device(device)
    x0 = torch.tensor(np.asarray(mapping.bead_positions()).reshape(-1, mapping.num_beads, 3)[0],
                      dtype=torch.float32, device=dev)
    outs = []
    for name in ("float32", dtype):
        module = build_step_module(model.network, mapping, device=device, network_dtype=name)
        gen = torch.Generator().manual_seed(seed)
        noise = torch.randn((module.noise_draws, x0.shape[0], 3), generator=gen).to(dev)
        hist = x0.unsqueeze(0).repeat(module.history_length, 1, 1)
        with torch.no_grad():
            outs.append(module(hist, noise, torch.zeros_like(x0),
                               torch.zeros(3, 3, device=dev)).double().cpu())
    diff = (outs[1] - outs[0]).norm(dim=-1)
    return {"rms_nm": float(diff.pow(2).mean().sqrt()), "max_nm": float(diff.max())}


def run(structure: str, dtypes: list[str], replicas: int, time: str, seed: int, device: str,
        model_name: str | None, tf32: bool, out: Path) -> dict[str, Any]:
    """Simulate ``structure`` once per dtype; the summary figures per dtype."""
    model = load_model(model_name)
    mapping = model.map(structure)
    platform = "CUDA" if device == "cuda" else "CPU"
    rows: dict[str, Any] = {}
    for name in dtypes:
        print(f"{name} ...", file=sys.stderr, flush=True)
        summary = simulate(structure, out / name, time_ps=time, model=model, seed=seed,
                           platform=platform, progress=False, replicas=replicas, tf32=tf32,
                           network_dtype=name)
        per_rep = np.asarray(summary["rg_mean_per_replica_nm"], dtype=float)
        rows[name] = {
            "steps": summary["steps"], "steps_per_s": summary["steps_per_s"],
            "aggregate_ns_per_day": summary["aggregate_ns_per_day"],
            "rg_mean_nm": summary["rg_mean_nm"],
            "rg_sem_nm": float(per_rep.std(ddof=1) / np.sqrt(len(per_rep)))
            if len(per_rep) > 1 else float("nan"),
            "bond_mean_nm": summary["bond_mean_nm"],
            "long_bond_frame_fraction": summary["long_bond_frame_fraction"],
            "long_bond_threshold_nm": summary["long_bond_threshold_nm"],
            "collision_rate_per_bead_frame": summary["collision_rate_per_bead_frame"],
            "cuda_graphs": summary["cuda_graphs"],
        }
        if name != "float32":
            rows[name]["one_step_deviation"] = one_step_deviation(model, mapping, name,
                                                                  device, seed)
    return {"structure": structure, "model": model.name, "device": device,
            "gpu": torch.cuda.get_device_name(0) if device == "cuda" else None,
            "replicas": replicas, "time": time, "seed": seed, "tf32": tf32, "runs": rows}


def format_table(r: dict[str, Any]) -> str:
    lines = [f"## network precision: {r['model']} on {Path(r['structure']).name}, "
             f"{r['replicas']} replicas x {r['time']}, {r['gpu'] or r['device']}"
             + (", TF32" if r["tf32"] else ""), "",
             "| networks | steps/s | aggregate ns/day | Rg (nm) | mean bond (nm) "
             "| frames with a long bond | collisions / bead-frame | one step vs float32: "
             "RMS / max (nm) |",
             "|---|---:|---:|---|---:|---:|---:|---|"]
    for name, row in r["runs"].items():
        dev = row.get("one_step_deviation")
        lines.append(
            f"| {name} | {row['steps_per_s']:.4g} | {row['aggregate_ns_per_day']:.4g} | "
            f"{row['rg_mean_nm']:.3f} +- {row['rg_sem_nm']:.3f} | {row['bond_mean_nm']:.3f} | "
            f"{100 * row['long_bond_frame_fraction']:.3g} % "
            f"(> {row['long_bond_threshold_nm']:.2f} nm) | "
            f"{row['collision_rate_per_bead_frame']:.3g} | "
            + (f"{dev['rms_nm']:.2g} / {dev['max_nm']:.2g} |" if dev else "- |"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--structure", default=VILLIN, help="PDB file (default: openmm's villin)")
    p.add_argument("--model", default=None, help="CG model name or checkpoint (default model)")
    p.add_argument("--dtypes", default="float32,float16,bfloat16",
                   help="comma-separated network dtypes (float32 first for the deviation)")
    p.add_argument("--replicas", type=int, default=100)
    p.add_argument("--time", default="200ns", help="simulated time per replica")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--tf32", action="store_true", help="TF32 matmuls (float32 runs)")
    p.add_argument("--out", default=None, help="keep the runs here (default: a temp dir)")
    p.add_argument("--json", default=None, help="also write the results here")
    p.add_argument("--quick", action="store_true", help="2 replicas x 3 steps (smoke run)")
    args = p.parse_args(argv)
    dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    bad = [d for d in dtypes if d not in NETWORK_DTYPES]
    if bad or not dtypes:
        raise SystemExit(f"--dtypes: use {', '.join(NETWORK_DTYPES)} (got {args.dtypes!r})")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no GPU")
    if args.quick:
        args.replicas, args.time = 2, "300ps"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out) if args.out else Path(tmp)
        result = run(args.structure, dtypes, args.replicas, args.time, args.seed, args.device,
                     args.model, args.tf32, out)
    if args.json:
        atomic_write(args.json, json.dumps(result, indent=2) + "\n")
    print(format_table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
