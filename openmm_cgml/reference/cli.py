"""``cgml generate``: reference MD -> CG training data.

Examples::

    cgml generate peptide --sequence GYDPETGTWG --time 50ns -o data/
    cgml generate peptide --random 20 --length 5-10 --seed 0 --time 20ns -o data/peptides/
    cgml generate pdb protein.pdb --time 100ns --stride 20ps -o data/
    cgml generate polymer --chains 200 --split-seed 0 -o data/polymer/

Times take a unit: ``fs``, ``ps``, ``ns``, ``us`` (and ``tau`` for polymers, the reduced LJ
time unit, 3.166 ps); a bare number is ps (tau for polymers).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

_TIME_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-zA-Zµ]*)\s*$")
_PS_PER = {"fs": 1e-3, "ps": 1.0, "ns": 1e3, "us": 1e6, "µs": 1e6}


def parse_duration(text: str | float, unit: str = "ps", what: str = "time") -> float:
    """``"50ns"`` -> 50000.0 (in ``unit``: ``"ps"`` or ``"tau"``; ``tau`` = 3.166 ps).

    A bare number is taken in ``unit``. Raises ValueError naming ``what`` on bad input.
    """
    if isinstance(text, int | float):
        return float(text)
    m = _TIME_RE.match(str(text))
    if not m:
        raise ValueError(f"{what}: cannot read {text!r}; write e.g. 50ns, 100ps, 4fs"
                         + (", 5tau" if unit == "tau" else ""))
    value, u = float(m.group(1)), (m.group(2) or unit).lower()
    if u == unit:
        return value
    if u == "tau":
        raise ValueError(f"{what}: unknown time unit 'tau' in {text!r} (tau is the polymer "
                         "time unit; use fs, ps, ns or us here)")
    if unit == "tau":
        from openmm_cgml.reference.polymer import TAU_PS

        if u not in _PS_PER:
            raise ValueError(f"{what}: unknown time unit {u!r} in {text!r} "
                             "(use tau, fs, ps, ns or us)")
        return value * _PS_PER[u] / TAU_PS
    if u not in _PS_PER:
        raise ValueError(f"{what}: unknown time unit {u!r} in {text!r} (use fs, ps, ns or us)")
    return value * _PS_PER[u] / _PS_PER[unit]


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--platform", default="auto",
                   help="OpenMM platform: auto (CUDA > CPU > Reference), CUDA, CPU, ...")
    p.add_argument("--precision", default="mixed", choices=["single", "mixed", "double"],
                   help="GPU precision (default mixed)")
    p.add_argument("--deterministic", action="store_true",
                   help="reproducible runs: CPU: one thread (slower), the same seed gives "
                        "the same trajectory bit for bit; GPU: DeterministicForces (not enough "
                        "for that on CUDA: two identical H100 runs of one 35,680-particle "
                        "polymer set ended up to 4.96 nm apart after 300 tau); without it "
                        "multi-threaded CPU runs of one seed differ (statistically equivalent)")
    p.add_argument("--save-atoms", action="store_true",
                   help="also store all-atom (fine particle) positions")
    p.add_argument("--overwrite", action="store_true",
                   help="start afresh instead of resuming/extending existing output")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--checkpoint-interval", type=float, default=300.0, metavar="SECONDS",
                   help="wall-clock seconds between flushes of frames + checkpoint (300)")
    p.add_argument("--max-wall", type=float, default=None, metavar="SECONDS",
                   help="stop production cleanly after this much wall-clock time (frames "
                        "flushed, checkpoint written); the same command again continues")


def _add_md(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", default="data", help="output folder (or .h5 file for "
                   "one molecule); default data/")
    p.add_argument("--time", default="10ns", help="production length, total (default 10ns); "
                   "a larger value on existing output appends")
    p.add_argument("--stride", default="10ps", help="time between stored frames (10ps)")
    p.add_argument("--equilibrate", default="100ps", help="equilibration time (100ps)")
    p.add_argument("--timestep", default="4fs", help="integration time step (4fs)")
    p.add_argument("--temperature", type=float, default=300.0, help="K (300)")
    p.add_argument("--friction", type=float, default=1.0, help="Langevin friction, 1/ps (1)")
    p.add_argument("--solvent", choices=["implicit", "explicit"], default="implicit",
                   help="implicit GBn2 (default) or explicit TIP3P + PME")
    p.add_argument("--forcefield", nargs="+", default=None, metavar="XML",
                   help="force field files (default amber14-all.xml + implicit/gbn2.xml, or "
                   "amber14/tip3p.xml with --solvent explicit)")
    p.add_argument("--hydrogen-mass", type=float, default=1.5,
                   help="hydrogen mass repartitioning, amu (1.5)")
    p.add_argument("--mapping", default="residue",
                   help="bead mapping scheme: residue, residue_sidechain, graph (residue)")
    p.add_argument("--atoms-per-bead", type=float, default=None,
                   help="cluster size for --mapping graph")
    p.add_argument("--copies", type=int, default=1, metavar="N",
                   help="N independent copies of each molecule (files NAME.h5, NAME_c1.h5, "
                   "...), simulated side by side in one System (implicit solvent; default 1)")
    p.add_argument("--together", action="store_true",
                   help="all molecules of this command (and their copies) in one System: "
                   "implicit solvent, molecules far apart, each held near its place by a "
                   "restraint on its centre of mass only; on a GPU this costs little more "
                   "than one small molecule")
    _add_common(p)


def register(subparsers: Any) -> None:
    gen = subparsers.add_parser(
        "generate", help="generate reference MD data (peptide, pdb, polymer)",
        description="Generate reference trajectories at the CG stride (HDF5).")
    sub = gen.add_subparsers(dest="what", metavar="WHAT")
    gen.set_defaults(func=lambda args: (gen.print_help(), 1)[1])

    p = sub.add_parser("peptide", help="build peptides from sequences and simulate them",
                       description="Build an all-atom peptide from its sequence, then run "
                       "all-atom MD and store frames at the CG stride.")
    p.add_argument("--sequence", "-s", action="append", default=[],
                   help="one-letter sequence (repeat for several peptides)")
    p.add_argument("--random", type=int, default=0, metavar="N",
                   help="also N random sequences (seeded by --seed)")
    p.add_argument("--length", default="5-10", metavar="MIN-MAX",
                   help="length range of --random sequences (5-10)")
    p.add_argument("--termini", choices=["capped", "charged"], default="capped",
                   help="ACE/NME caps (default) or charged termini")
    _add_md(p)
    p.set_defaults(func=_run_peptide)

    p = sub.add_parser("pdb", help="simulate structures from PDB/PDBx files",
                       description="Run all-atom MD from PDB/PDBx files; water and ions in the "
                       "file are removed (re-solvated with --solvent explicit).")
    p.add_argument("structures", nargs="+", help="PDB or PDBx/mmCIF files")
    p.add_argument("--name", action="append", default=None, metavar="NAME",
                   help="molecule name (stored in the file, used by cgml evaluate; output "
                        "NAME.h5 when -o is a folder), once per structure in order (default: "
                        "the file name without extension)")
    _add_md(p)
    p.set_defaults(func=_run_pdb)

    p = sub.add_parser("polymer", help="the polymer benchmark family (one System, many chains)",
                       description="Simulate comb polymers (reduced LJ units: sigma = 0.5 nm, "
                       "m = 100 amu, epsilon = kT at 300 K, tau = 3.166 ps); writes one .h5 "
                       "per chain and splits.json (train/val/test by composition).")
    p.add_argument("-o", "--output", default="data/polymer", help="output folder")
    p.add_argument("--chains", type=int, default=200, help="number of chains (200)")
    p.add_argument("--split-seed", type=int, default=0, help="seed of compositions/splits")
    p.add_argument("--time", default="10000tau", help="production length (10000tau)")
    p.add_argument("--stride", default="5tau", help="time between stored frames (5tau)")
    p.add_argument("--equilibrate", default="1000tau", help="equilibration (1000tau)")
    p.add_argument("--timestep", default="0.01tau", help="integration step (0.01tau)")
    p.add_argument("--temperature", type=float, default=1.0, help="reduced temperature (1)")
    p.add_argument("--friction", type=float, default=1.0, help="friction, 1/tau (1)")
    p.add_argument("--min-length", type=int, default=20, help="shortest chain, monomers (20)")
    p.add_argument("--max-length", type=int, default=100, help="longest chain, monomers (100)")
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--test-fraction", type=float, default=0.2)
    p.add_argument("--atoms-per-bead", type=float, default=4,
                   help="particles per CG bead, graph mapping (4 = 2 monomers)")
    p.add_argument("--only", choices=["train", "val", "test"], default=None,
                   help="simulate only this split's chains (same compositions and names as "
                   "the full --chains set), e.g. long references of the test chains")
    p.add_argument("--copies", type=int, default=1, metavar="N",
                   help="independent runs of every chain in the one System (1); copy j > 0 "
                   "of NAME.h5 is NAME_c<j>.h5, named NAME inside, pooled by evaluation")
    p.add_argument("--summary", action="store_true",
                   help="afterwards write summary.json: per-chain Rg, Rg^2 relaxation time "
                   "and run length in relaxation times (>= 100 wanted)")
    _add_common(p)
    p.set_defaults(func=_run_polymer)


def _settings(args: argparse.Namespace) -> Any:
    from openmm_cgml.reference.allatom import MDSettings

    return MDSettings(
        temperature_K=args.temperature,
        timestep_fs=parse_duration(args.timestep, "ps", "--timestep") * 1000.0,
        friction_per_ps=args.friction,
        solvent=args.solvent,
        forcefield=args.forcefield,
        hydrogen_mass_amu=args.hydrogen_mass,
        equilibration_ps=parse_duration(args.equilibrate, "ps", "--equilibrate"),
        stride_ps=parse_duration(args.stride, "ps", "--stride"),
        production_ps=parse_duration(args.time, "ps", "--time"),
        seed=args.seed,
        save_atoms=args.save_atoms,
        mapping_scheme=args.mapping,
        atoms_per_bead=args.atoms_per_bead,
        precision=args.precision,
        deterministic=args.deterministic,
    )


def _outputs(output: str, names: list[str]) -> list[Path]:
    out = Path(output)
    if out.suffix in (".h5", ".hdf5"):
        if len(names) != 1:
            raise ValueError(f"-o {output} is a file but {len(names)} molecules were given; "
                             "pass a folder")
        return [out]
    return [out / f"{n}.h5" for n in names]


def _report(res: Any) -> None:
    print(f"{res.path}: {res.frames} frames ({res.new_frames} new), {res.num_atoms} atoms, "
          f"{res.num_beads} beads, {res.platform}: {res.ns_per_day:.1f} ns/day")


def _run_md(args: argparse.Namespace, items: list[tuple[str, Any, dict[str, Any]]]) -> int:
    from openmm_cgml.reference.allatom import run_reference_set

    settings = _settings(args)
    copies = int(getattr(args, "copies", 1))
    if copies < 1:
        raise ValueError(f"--copies must be >= 1, got {copies}")
    # (file, molecule name, structure, attributes); copy j > 0 of NAME.h5 is NAME_c<j>.h5,
    # named NAME inside, so that evaluation pools the copies as runs of one molecule
    groups: list[list[tuple[Path, str, Any, dict[str, Any]]]] = []
    for (name, structure, extra), path in zip(items, _outputs(args.output,
                                              [i[0] for i in items]), strict=True):
        groups.append([(path if j == 0 else path.with_name(f"{path.stem}_c{j}{path.suffix}"),
                        name, structure, {**extra, "copy": j} if copies > 1 else extra)
                       for j in range(copies)])
    if getattr(args, "together", False):
        groups = [[it for g in groups for it in g]]
    for group in groups:
        results = run_reference_set(
            [it[2] for it in group], [it[0] for it in group], settings,
            names=[it[1] for it in group], extra_attrs=[it[3] for it in group],
            platform=args.platform, overwrite=args.overwrite, progress=not args.no_progress,
            checkpoint_interval_s=args.checkpoint_interval, max_wall_s=args.max_wall)
        for res in results:
            _report(res)
        if len(results) > 1:
            print(f"{len(results)} molecules in one System: "
                  f"{results[0].ns_per_day * len(results):.1f} ns/day in all")
    return 0


def _run_peptide(args: argparse.Namespace) -> int:
    from openmm_cgml.reference.peptide import parse_sequence, write_peptide_pdb

    settings = _settings(args)  # validate before the (slow) builds
    del settings
    sequences = list(args.sequence)
    if args.random:
        sequences += random_sequences(args.random, args.length, args.seed)
    if not sequences:
        raise ValueError("give --sequence SEQ (repeatable) and/or --random N")
    items = []
    for seq in sequences:
        parse_sequence(seq)
        name = seq.upper()
        paths = _outputs(args.output, [name])
        pdb_path = paths[0].with_suffix(".pdb")
        if args.overwrite or not pdb_path.exists():
            write_peptide_pdb(seq, pdb_path, termini=args.termini, seed=args.seed,
                              platform=args.platform)
            print(f"built {pdb_path}")
        items.append((name, pdb_path, {"sequence": name, "termini": args.termini}))
    return _run_md(args, items)


def random_sequences(n: int, length: str, seed: int) -> list[str]:
    """``n`` distinct random sequences of the 20 amino acids, lengths uniform in
    ``"MIN-MAX"`` (e.g. ``"5-10"``), deterministic in ``seed``."""
    import numpy as np

    from openmm_cgml.reference.peptide import ONE_TO_THREE

    try:
        lo, hi = (int(v) for v in (length.split("-") if "-" in length else (length, length)))
    except ValueError:
        raise ValueError(f"--length: expected MIN-MAX such as 5-10, got {length!r}") from None
    if not 1 <= lo <= hi:
        raise ValueError(f"--length: need 1 <= MIN <= MAX, got {length!r}")
    letters = sorted(ONE_TO_THREE)
    rng = np.random.default_rng(seed)
    out: list[str] = []
    tries = 0
    while len(out) < n:
        tries += 1
        if tries > 100 * n + 1000:
            raise ValueError(f"cannot draw {n} distinct sequences of length {length}")
        seq = "".join(rng.choice(letters, int(rng.integers(lo, hi + 1))))
        if seq not in out:
            out.append(seq)
    return out


def _run_pdb(args: argparse.Namespace) -> int:
    names = args.name or [Path(s).stem for s in args.structures]
    if len(names) != len(args.structures):
        raise ValueError(f"--name given {len(names)} times for {len(args.structures)} "
                         "structures: give one name per structure, in order")
    items = []
    for s, name in zip(args.structures, names, strict=True):
        path = Path(s)
        if not path.is_file():
            raise FileNotFoundError(f"structure file not found: {path}")
        items.append((name, path, {"source": path.name}))
    return _run_md(args, items)


def _run_polymer(args: argparse.Namespace) -> int:
    from openmm_cgml.reference.polymer import PolymerParameters, generate_polymer_dataset

    params = PolymerParameters(
        temperature=args.temperature, friction=args.friction,
        timestep=parse_duration(args.timestep, "tau", "--timestep"))
    res = generate_polymer_dataset(
        args.output, args.chains, split_seed=args.split_seed, seed=args.seed,
        production_tau=parse_duration(args.time, "tau", "--time"),
        stride_tau=parse_duration(args.stride, "tau", "--stride"),
        equilibration_tau=parse_duration(args.equilibrate, "tau", "--equilibrate"),
        params=params, atoms_per_bead=args.atoms_per_bead, save_atoms=args.save_atoms,
        platform=args.platform, precision=args.precision, deterministic=args.deterministic,
        val_fraction=args.val_fraction, test_fraction=args.test_fraction,
        min_length=args.min_length, max_length=args.max_length, overwrite=args.overwrite,
        progress=not args.no_progress, checkpoint_interval_s=args.checkpoint_interval,
        max_wall_s=args.max_wall, only=args.only, copies=args.copies)
    print(f"{res.out_dir}: {len(res.files)} chains, {res.num_particles} particles, "
          f"{res.frames} frames ({res.new_frames} new) on {res.platform}: "
          f"{res.steps_per_s:.0f} steps/s, {res.particle_steps_per_s:.3e} particle-steps/s, "
          f"{res.tau_per_day:.3e} tau/day; inter-chain separation violations: "
          f"{res.separation_violations}")
    if args.summary:
        from openmm_cgml.reference.polymer import summarize_polymer_set

        doc = summarize_polymer_set(args.output)
        print(f"{args.output}/summary.json: shortest run = "
              f"{doc['min_run_length_in_relaxations']:.1f} Rg^2 relaxation times; "
              f"{len(doc['too_short'])} of {len(doc['chains'])} chains below "
              f"{doc['min_relaxations']:.0f}")
    return 0
