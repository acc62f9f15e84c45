"""Tutorial, end to end at small scale on a CPU: PDB -> reference data -> training ->
CG simulation in OpenMM -> evaluation against the reference.

Each stage uses the package's public API (the same code the ``cgml`` commands run):

1. build an all-atom peptide from its sequence (or take ``--pdb``) and run all-atom
   reference MD with OpenMM (amber14 + GBn2, 4 fs, HMR), frames stored at the CG stride
   (``openmm_cgml.reference.run_reference``);
2. train a small CG model on it (``openmm_cgml.training.train``: Gaussian NLL of the
   acceleration + denoising score matching; checkpoint = safetensors + JSON);
3. load the checkpoint (``openmm_cgml.load_model(path)``), export it for the molecule and run
   it in ``openmm.app.Simulation`` with ``CGMLIntegrator`` and a DCD reporter;
4. compare CG and reference: radius of gyration (mean, histogram JS divergence), CG bond
   lengths, bead collisions (``openmm_cgml.analysis``), and write ``tutorial/rg.png``.

At the default size it takes ~5-10 minutes on 2 CPU cores, and the model is far too small
and too briefly trained to be accurate: the point is the pipeline. Scale ``--reference-time``,
``--steps`` and the model in ``model_config`` up on a GPU for real models.

    python examples/tutorial_small_scale.py --work tutorial/
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import openmm.app as app
import openmm.unit as u
import yaml

from openmm_cgml import analysis, load_model
from openmm_cgml.reference import MDSettings, TrajectoryFile, run_reference, write_peptide_pdb
from openmm_cgml.simulation import no_jit_respecialisation
from openmm_cgml.simulation.run import choose_platform
from openmm_cgml.training import load_train_config, train


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", default="tutorial", help="working folder")
    p.add_argument("--sequence", default="GYDPETGTWG", help="peptide to build (if no --pdb)")
    p.add_argument("--pdb", default=None, help="use this all-atom structure instead")
    p.add_argument("--reference-time", type=float, default=100.0, help="reference MD, ps")
    p.add_argument("--stride", type=float, default=2.0, help="stored frame spacing, ps")
    p.add_argument("--frame-stride", type=int, default=2,
                   help="model time step = frame-stride x stride")
    p.add_argument("--steps", type=int, default=300, help="training steps")
    p.add_argument("--cg-time", type=float, default=2000.0, help="CG simulation length, ps")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)

    # 1. structure and all-atom reference data -------------------------------------------
    pdb = Path(args.pdb) if args.pdb else work / f"{args.sequence}.pdb"
    if not args.pdb and not pdb.exists():
        write_peptide_pdb(args.sequence, pdb, seed=args.seed)
    traj_file = work / "reference" / f"{pdb.stem}.h5"
    settings = MDSettings(production_ps=args.reference_time, stride_ps=args.stride,
                          equilibration_ps=10.0, seed=args.seed)
    result = run_reference(str(pdb), traj_file, settings)  # resumes if already there
    print(f"[1] reference: {result.frames} frames, {result.num_atoms} atoms -> "
          f"{result.num_beads} beads, {result.ns_per_day:.1f} ns/day on {result.platform}")

    # 2. training ----------------------------------------------------------------------------
    run_dir = work / "run"
    config = {
        "seed": args.seed, "output": str(run_dir),
        "data": {"train": str(traj_file), "val": str(traj_file),
                 "frame_stride": args.frame_stride, "val_window_step": 4,
                 "statistics_samples": 300},
        "model": {"family": "plain", "hidden": 32, "layers": 2, "score_layers": 2,
                  "embed_layers": 1, "history_length": 3, "cutoff_nm": 1.2, "num_rbf": 8,
                  "sigma_max": 0.5, "sigma_min": 0.01, "noise_levels": 8,
                  "refine_levels": 2, "refine_steps": 2, "refine_step_size": 1e-5},
        "train": {"max_steps": args.steps, "batch_size": 8, "lr": 1e-3, "warmup_steps": 20,
                  "device": "cpu", "log_every": 20, "val_every": max(50, args.steps // 3),
                  "val_batches": 4, "checkpoint_every": max(50, args.steps // 3),
                  "rollout_steps": 5, "rollout_molecules": 1},
    }
    (work / "train.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    metrics = train(load_train_config(work / "train.yaml"), progress=True)
    scalars = {k: round(float(v), 4) for k, v in metrics.items() if isinstance(v, (int, float))}
    print(f"[2] training done: {json.dumps(scalars)}")

    # 3. CG simulation in OpenMM ----------------------------------------------------------------
    model = load_model(run_dir / "final")
    cg = model.map(str(pdb))
    sim = app.Simulation(cg.topology, model.create_system(cg),
                         model.create_integrator(cg, seed=args.seed), choose_platform("CPU"))
    sim.context.setPositions(cg.bead_positions()[0] * u.nanometer)
    n_steps = int(round(args.cg_time / model.timestep_ps))
    dcd = work / "cg.dcd"
    sim.reporters.append(app.DCDReporter(str(dcd), 1))
    with no_jit_respecialisation():
        sim.step(n_steps)
    sim.reporters.clear()
    import mdtraj

    with open(work / "beads.pdb", "w") as fh:
        app.PDBFile.writeFile(cg.topology, cg.bead_positions()[0] * u.nanometer, fh)
    cg_xyz = mdtraj.load(str(dcd), top=str(work / "beads.pdb")).xyz.astype(np.float64)
    print(f"[3] CG run: {n_steps} steps of {model.timestep_ps:g} ps = {args.cg_time / 1000:g} ns")

    # 4. evaluation -------------------------------------------------------------------------------
    ref_xyz = np.asarray(TrajectoryFile(traj_file).bead_positions[:], dtype=np.float64)
    masses = cg.bead_masses
    rg_ref = analysis.radius_of_gyration(ref_xyz, masses)
    rg_cg = analysis.radius_of_gyration(cg_xyz, masses)
    bins = np.linspace(min(rg_ref.min(), rg_cg.min()), max(rg_ref.max(), rg_cg.max()), 30)
    js = analysis.js_divergence(np.histogram(rg_ref, bins)[0] + 1e-9,
                                np.histogram(rg_cg, bins)[0] + 1e-9)
    bonds = cg.cg_bonds
    bl_ref = analysis.bond_lengths(ref_xyz, bonds).ravel()
    bl_cg = analysis.bond_lengths(cg_xyz, bonds).ravel()
    report = {
        "rg_reference_nm": [float(rg_ref.mean()), float(rg_ref.std())],
        "rg_cg_nm": [float(rg_cg.mean()), float(rg_cg.std())],
        "rg_histogram_js_divergence": float(js),
        "bond_length_reference_nm": [float(bl_ref.mean()), float(bl_ref.std())],
        "bond_length_cg_nm": [float(bl_cg.mean()), float(bl_cg.std())],
        "collision_rate_cg": float(analysis.collision_rate(cg_xyz, 0.1, bonds=bonds)),
        "collision_rate_reference": float(analysis.collision_rate(ref_xyz, 0.1, bonds=bonds)),
    }
    (work / "evaluation.json").write_text(json.dumps(report, indent=2))
    for key, value in report.items():
        print(f"[4] {key:30s} {value}")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5), dpi=120)
    ax.hist(rg_ref, bins, density=True, alpha=0.6, label="all-atom reference")
    ax.hist(rg_cg, bins, density=True, alpha=0.6, label="learned CG")
    ax.set_xlabel("radius of gyration (nm)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(work / "rg.png")
    print(f"outputs in {work}/ (evaluation.json, rg.png, cg.dcd, run/)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
