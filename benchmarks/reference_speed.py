"""Speed of the reference MD that makes the training data (ns/day, particle-steps/s).

Systems (the same protocol as ``cgml generate``):

* villin headpiece (openmm's own ``app/data/test.pdb``, water removed), amber14 + GBn2,
  HBonds, HMR 1.5 amu, 4 fs LangevinMiddle, 300 K -- and with ``--explicit`` the same
  protein in TIP3P/PME (1 nm padding, 1 nm cutoff);
* a capped peptide built from its sequence (GYDPETGTWG), amber14 + GBn2, 4 fs;
* the polymer benchmark: ``--chains`` comb chains (L 20..100) in one System,
  0.01 tau steps, reported as steps/s, particle-steps/s and tau/day.

Each system is minimised, warmed up, then timed over a fixed number of steps (ending with a
``getState`` so that GPU work is included). Platforms: CPU always, CUDA when available (or
``--platforms``). Results are printed and written as JSON (``--output``).

    python benchmarks/reference_speed.py                       # CPU (+ CUDA if present)
    python benchmarks/reference_speed.py --platforms CUDA --explicit --chains 200
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform as _pyplatform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import openmm
from openmm import app, unit

if importlib.util.find_spec("openmm_cgml") is None:  # not installed: use the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from openmm_cgml.reference import polymer as P  # noqa: E402
from openmm_cgml.reference.allatom import MDSettings, prepare_system, select_platform  # noqa: E402
from openmm_cgml.reference.peptide import build_peptide  # noqa: E402
from openmm_cgml.reference.storage import software_versions  # noqa: E402


def _time_steps(context: Any, integrator: Any, steps: int, warmup: int) -> float:
    integrator.step(warmup)
    context.getState(getPositions=True)
    t0 = time.perf_counter()
    integrator.step(steps)
    context.getState(getPositions=True)
    return time.perf_counter() - t0


def bench_allatom(name: str, topology: Any, positions: Any, platform: str, steps: int,
                  solvent: str = "implicit") -> dict[str, Any]:
    settings = MDSettings(solvent=solvent, equilibration_ps=0.0)
    system, top, pos = prepare_system(topology, positions, settings)
    plat, props = select_platform(platform, "mixed")
    integ = openmm.LangevinMiddleIntegrator(settings.temperature_K, settings.friction_per_ps,
                                            settings.timestep_ps)
    integ.setRandomNumberSeed(1)
    ctx = openmm.Context(system, integ, plat, props)
    ctx.setPositions(pos)
    if system.usesPeriodicBoundaryConditions():
        ctx.setPeriodicBoxVectors(*top.getPeriodicBoxVectors())
    openmm.LocalEnergyMinimizer.minimize(ctx, 10.0, 200)
    ctx.setVelocitiesToTemperature(settings.temperature_K, 2)
    wall = _time_steps(ctx, integ, steps, warmup=max(10, steps // 10))
    ns_day = steps * settings.timestep_ps * 1e-3 / wall * 86400.0
    return {"system": name, "platform": plat.getName(), "atoms": system.getNumParticles(),
            "solvent": solvent, "timestep_fs": settings.timestep_fs, "steps": steps,
            "wall_s": wall, "ns_per_day": ns_day, "steps_per_s": steps / wall}


def bench_polymer(n_chains: int, platform: str, steps: int, seed: int = 0) -> dict[str, Any]:
    comps = P.generate_compositions(n_chains, split_seed=seed)
    params = P.PolymerParameters()
    system, _, ranges = P.build_polymer_system(comps, params)
    rng = np.random.default_rng(seed)
    grid = P.ChainGrid(ranges, params.cutoff_sigma * P.SIGMA_NM)
    pos = grid.recentre(np.concatenate([P.initial_conformation(c, rng) * P.SIGMA_NM
                                        for c in comps]))
    plat, props = select_platform(platform, "mixed")
    integ = openmm.LangevinMiddleIntegrator(params.temperature_K, params.friction / P.TAU_PS,
                                            params.timestep_ps)
    integ.setRandomNumberSeed(1)
    ctx = openmm.Context(system, integ, plat, props)
    ctx.setPositions(pos)
    openmm.LocalEnergyMinimizer.minimize(ctx, 1.0, 200)
    ctx.setVelocitiesToTemperature(params.temperature_K, 2)
    wall = _time_steps(ctx, integ, steps, warmup=max(10, steps // 10))
    n = system.getNumParticles()
    sps = steps / wall
    return {"system": f"polymer x{n_chains} chains", "platform": plat.getName(),
            "particles": n, "steps": steps, "wall_s": wall, "steps_per_s": sps,
            "particle_steps_per_s": sps * n, "tau_per_day": sps * params.timestep * 86400.0,
            "ns_per_day_mapped": sps * params.timestep_ps * 1e-3 * 86400.0,
            "separation_violations": grid.check(
                np.asarray(ctx.getState(getPositions=True).getPositions(asNumpy=True)
                           .value_in_unit(unit.nanometer)))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--platforms", nargs="+", default=None,
                    help="OpenMM platforms (default: CPU, plus CUDA if available)")
    ap.add_argument("--steps", type=int, default=2000, help="timed all-atom steps (2000)")
    ap.add_argument("--polymer-steps", type=int, default=1000, help="timed polymer steps")
    ap.add_argument("--chains", type=int, default=64, help="polymer chains in one System")
    ap.add_argument("--explicit", action="store_true", help="also villin in TIP3P/PME")
    ap.add_argument("--gpu-scale", type=int, default=10,
                    help="multiply step counts by this on GPU platforms (10)")
    ap.add_argument("--output", default=None,
                    help="JSON output (default benchmarks/results/reference_speed_<plat>.json)")
    args = ap.parse_args(argv)

    available = [openmm.Platform.getPlatform(i).getName()
                 for i in range(openmm.Platform.getNumPlatforms())]
    platforms = args.platforms or ["CPU"] + (["CUDA"] if "CUDA" in available and
                                             select_platform(None)[0].getName() == "CUDA"
                                             else [])
    villin = app.PDBFile(str(Path(app.__file__).parent / "data" / "test.pdb"))
    pep_top, pep_pos = build_peptide("GYDPETGTWG", platform="CPU")
    results = []
    for plat in platforms:
        scale = args.gpu_scale if plat in ("CUDA", "OpenCL", "HIP") else 1
        rows = [
            bench_allatom("villin (GBn2)", villin.topology, villin.positions, plat,
                          args.steps * scale),
            bench_allatom("GYDPETGTWG (GBn2)", pep_top, pep_pos * unit.nanometer, plat,
                          args.steps * scale),
        ]
        if args.explicit:
            rows.append(bench_allatom("villin (TIP3P/PME)", villin.topology, villin.positions,
                                      plat, max(100, args.steps // 10) * scale, "explicit"))
        rows.append(bench_polymer(args.chains, plat, args.polymer_steps * scale))
        for r in rows:
            if "ns_per_day" in r:
                print(f"{r['platform']:>9s}  {r['system']:<22s} {r['atoms']:>6d} atoms  "
                      f"{r['ns_per_day']:10.1f} ns/day  ({r['steps_per_s']:.0f} steps/s)")
            else:
                print(f"{r['platform']:>9s}  {r['system']:<22s} {r['particles']:>6d} particles "
                      f"{r['steps_per_s']:8.0f} steps/s  {r['particle_steps_per_s']:.3e} "
                      f"particle-steps/s  {r['tau_per_day']:.3e} tau/day")
        results += rows
    doc = {"results": results, "software": software_versions(),
           "host": {"machine": _pyplatform.machine(), "processor": _pyplatform.processor(),
                    "cpu_count": os.cpu_count(),
                    "load_average_1_5_15min": list(os.getloadavg())},
           "openmm_platforms": available}
    out = Path(args.output or Path(__file__).parent / "results" /
               f"reference_speed_{'_'.join(p.lower() for p in platforms)}.json")
    from openmm_cgml.utils import atomic_write

    atomic_write(out, json.dumps(doc, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
