"""``cgml map``: structure (and optionally a trajectory) -> bead PDB, mapping JSON, summary."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "map",
        help="coarse-grain a PDB/mmCIF structure into beads",
        description=(
            "Clean an all-atom structure (PDBFixer: first altloc, non-standard residues, "
            "missing heavy atoms, hydrogens; waters/ions removed by default) and map it onto "
            "beads. Writes OUT/<name>_beads.pdb, OUT/<name>_mapping.json and "
            "OUT/<name>_summary.json (+ OUT/<name>_beads.dcd with --traj)."
        ),
    )
    p.add_argument("input", help="structure file (.pdb or .cif)")
    p.add_argument("-o", "--out", required=True, help="output folder (created if needed)")
    p.add_argument(
        "--scheme", default="residue",
        choices=["residue", "residue_sidechain", "graph", "custom"],
        help="residue: one bead per residue; residue_sidechain: backbone + side chain; "
        "graph: balanced connected clusters of --atoms-per-bead atoms; custom: bead indices "
        "from --atom-to-bead (default: residue)",
    )
    p.add_argument("--atom-to-bead", default=None,
                   help="for --scheme custom: .npy or text file with one bead index per atom "
                   "(of the input file, or of the kept atoms)")
    p.add_argument("--atoms-per-bead", type=float, default=None,
                   help="cluster size for --scheme graph (and for ligands in residue schemes)")
    p.add_argument("--keep", default="ligands",
                   help="comma-separated optional parts to keep: ligands, water, ions, all, none "
                   "(default: ligands)")
    p.add_argument("--no-clean", action="store_true",
                   help="use the structure as is (no PDBFixer repairs, no hydrogens added)")
    p.add_argument("--ph", type=float, default=7.0, help="pH for added hydrogens (default 7)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed for METIS and PDBFixer's placement of missing atoms (default 0)")
    p.add_argument("--traj", default=None,
                   help="all-atom trajectory to map too (DCD/XTC/...; atoms of the input file "
                   "or of the cleaned structure); written as OUT/<name>_beads.dcd")
    p.add_argument("--top", default=None,
                   help="topology file for --traj (default: worked out from its atom count: "
                   "the input's atoms or the cleaned structure's)")
    p.add_argument("--chunk", type=int, default=1000, help="frames per chunk for --traj")
    p.add_argument("--name", default=None, help="output file prefix (default: input file stem)")
    p.set_defaults(func=run)


def _read_indices(path: Path):
    import numpy as np

    if not path.is_file():
        raise FileNotFoundError(f"--atom-to-bead: {path} does not exist")
    try:
        arr = np.load(path) if path.suffix == ".npy" else np.loadtxt(path, ndmin=1)
    except (OSError, ValueError) as exc:
        raise ValueError(f"--atom-to-bead: {path} is not a .npy or text list of integers "
                         f"({exc})") from None
    return np.asarray(arr).reshape(-1)


def run(args: argparse.Namespace) -> int:
    from openmm_cgml.mapping.build import coarse_grain
    from openmm_cgml.mapping.output import bead_pdb_text, summary_text, write_bead_dcd
    from openmm_cgml.mapping.trajectory import map_trajectory
    from openmm_cgml.utils import atomic_write

    src = Path(args.input)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"-o {out}: exists and is not a folder")
    name = args.name or src.stem
    atom_to_bead = None
    if args.scheme == "custom":
        if not args.atom_to_bead:
            raise ValueError("--scheme custom needs --atom-to-bead FILE")
        atom_to_bead = _read_indices(Path(args.atom_to_bead))
    elif args.atom_to_bead:
        raise ValueError("--atom-to-bead is only used with --scheme custom")
    mapping = coarse_grain(
        src, scheme=args.scheme, atoms_per_bead=args.atoms_per_bead, keep=args.keep,
        clean=False if args.no_clean else None, ph=args.ph, seed=args.seed,
        atom_to_bead=atom_to_bead,
    )
    # everything is computed before anything is written: no partial output on errors
    pdb_text = bead_pdb_text(mapping)
    json_text = mapping.to_json()
    summary = mapping.summary()
    summary["input"] = str(src)
    bead_traj = None
    if args.traj:
        bead_traj = map_trajectory(mapping, args.traj, top=args.top, chunk=args.chunk)
        summary["trajectory"] = {"path": str(args.traj), "frames": int(bead_traj.shape[0])}
    targets = {
        out / f"{name}_beads.pdb": pdb_text,
        out / f"{name}_mapping.json": json_text,
        out / f"{name}_summary.json": json.dumps(summary, indent=2) + "\n",
    }
    written: list[Path] = []
    try:
        if bead_traj is not None:
            dcd_path = out / f"{name}_beads.dcd"
            write_bead_dcd(mapping, dcd_path, bead_traj)
            written.append(dcd_path)
        for path, text in targets.items():
            atomic_write(path, text)
            written.append(path)
    except BaseException:
        for path in written:
            with contextlib.suppress(OSError):
                os.remove(path)
        raise
    print(summary_text(mapping), end="")
    for path in written:
        print(f"wrote {path}")
    return 0
