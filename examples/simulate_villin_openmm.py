"""Drop-in OpenMM script: learned CG dynamics of villin with Simulation + standard reporters.

Everything here is ordinary OpenMM: the only CG-specific lines are the three marked (1)-(3).
The structure is openmm's own ``app/data/test.pdb`` (villin headpiece), so nothing is
downloaded. Run from anywhere::

    python examples/simulate_villin_openmm.py --time 100ns --out villin_cg/

Outputs: ``beads.pdb`` (bead topology + start), ``trajectory.dcd``, ``state.csv``
(StateDataReporter), ``checkpoint.chk``. Open them with mdtraj/VMD/PyMOL:
``mdtraj.load("villin_cg/trajectory.dcd", top="villin_cg/beads.pdb")``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import openmm.app as app
import openmm.unit as u

import openmm_cgml
from openmm_cgml.simulation import no_jit_respecialisation
from openmm_cgml.simulation.run import choose_platform, parse_time_ps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pdb", default=os.path.join(os.path.dirname(app.__file__), "data",
                                                      "test.pdb"))
    parser.add_argument("--time", default="20ns", help="simulated time (e.g. 20ns, 1us)")
    parser.add_argument("--out", default="villin_cg", help="output folder")
    parser.add_argument("--model", default=None, help="model name or checkpoint (default model)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--platform", default=None, help="CUDA, CPU, ... (default: best)")
    parser.add_argument("--cuda-graphs", action=argparse.BooleanOptionalAction, default=True,
                        help="on CUDA, replay the learned step as a CUDA graph (default on)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    model = openmm_cgml.load_model(args.model)          # (1) a pretrained CG model
    cg = model.map(args.pdb)                            # (2) all-atom PDB -> beads
    system = model.create_system(cg)                    # (3) System of beads + CGMLIntegrator
    platform = choose_platform(args.platform)
    graphs = args.cuda_graphs and platform.getName() == "CUDA"  # a CUDA export only for CUDA
    integrator = model.create_integrator(cg, seed=args.seed, cuda_graphs=graphs)
    print(model, cg, sep="\n")

    simulation = app.Simulation(cg.topology, system, integrator, platform)
    start = cg.bead_positions()[0] * u.nanometer
    simulation.context.setPositions(start)              # history = k copies (beads at rest)
    with open(out / "beads.pdb", "w") as fh:
        app.PDBFile.writeFile(cg.topology, start, fh, keepIds=True)

    dt_ps = integrator.getStepSize().value_in_unit(u.picosecond)
    n_steps = int(round(parse_time_ps(args.time) / dt_ps))
    interval = max(1, n_steps // 1000)
    simulation.reporters.append(app.DCDReporter(str(out / "trajectory.dcd"), interval))
    simulation.reporters.append(app.StateDataReporter(
        str(out / "state.csv"), interval, step=True, time=True, speed=True, elapsedTime=True))
    simulation.reporters.append(app.StateDataReporter(
        sys.stdout, max(interval, n_steps // 10), step=True, time=True, speed=True,
        progress=True, remainingTime=True, totalSteps=n_steps))
    simulation.reporters.append(app.CheckpointReporter(str(out / "checkpoint.chk"),
                                                       max(interval, n_steps // 10)))
    print(f"{n_steps} steps of {dt_ps:g} ps on {simulation.context.getPlatform().getName()}")
    with no_jit_respecialisation():                     # steady step times (see its docstring)
        simulation.step(n_steps)
    state = simulation.context.getState(getPositions=True)
    print(f"done: {state.getTime().value_in_unit(u.nanosecond):.3f} ns simulated; "
          f"outputs in {out}/; CUDA graph: {integrator.getCudaGraphStatus()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
