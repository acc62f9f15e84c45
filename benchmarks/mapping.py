"""Time mapping an all-atom trajectory onto beads against just reading it with mdtraj.

    PYTHONPATH=. python benchmarks/mapping.py [--frames 10000] [--chunk 1000] [--seed 0]

The system is openmm's bundled villin headpiece in TIP3P water (8,867 atoms, box
4.92 x 4.60 x 3.89 nm). A synthetic DCD of ``--frames`` frames (the crystal coordinates plus
Gaussian noise of 0.02 nm, wrapped into the box so that the protein is torn across the
periodic faces as in real output) is written to a temporary folder, then:

- ``read``: ``mdtraj.iterload`` over the file (the target's yardstick);
- ``map``: ``map_trajectory(mapping, file)``: the same streamed read, plus making the
  protein whole across the box and one sparse matrix product per chunk (residue scheme,
  35 beads);
- ``compute only``: the unwrapping + product on frames already in memory.

It prints the times and the ratio map / read (the target is "the same order", i.e. < ~3).
The file (~1 GB for 10,000 frames) is deleted at the end unless ``--keep-dir DIR`` is given.
``--scheme graph --atoms-per-bead 4 --keep all`` maps every atom (water included, ~2,900
beads): the heaviest case for unwrapping and the product.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def _write_dcd(path: Path, xyz0: np.ndarray, box: np.ndarray, frames: int, seed: int,
               block: int = 500) -> None:
    from mdtraj.formats import DCDTrajectoryFile

    rng = np.random.default_rng(seed)
    lengths = np.diag(box)
    with DCDTrajectoryFile(str(path), "w") as fh:
        for start in range(0, frames, block):
            n = min(block, frames - start)
            x = xyz0[None] + rng.normal(scale=0.02, size=(n,) + xyz0.shape)
            x -= np.floor(x / lengths) * lengths
            cell = np.repeat(lengths[None] * 10.0, n, axis=0)
            fh.write(
                (x * 10.0).astype(np.float32),  # DCD stores Angstrom
                cell_lengths=cell.astype(np.float32),
                cell_angles=np.full((n, 3), 90.0, dtype=np.float32),
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--chunk", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1, help="timed passes (best is shown)")
    parser.add_argument("--keep-dir", default=None, help="write the DCD here and keep it")
    parser.add_argument("--scheme", default="residue",
                        help="mapping scheme (residue, residue_sidechain, graph)")
    parser.add_argument("--atoms-per-bead", type=float, default=None)
    parser.add_argument("--keep", default="ligands",
                        help="molecules kept in the mapping (e.g. 'all' to map the water too)")
    args = parser.parse_args(argv)

    import mdtraj
    import openmm.app as app
    import openmm.unit as unit

    from openmm_cgml.mapping import coarse_grain, map_trajectory
    from openmm_cgml.mapping.trajectory import _box_vectors, _map_chunk, _plan

    pdb_path = Path(app.__file__).resolve().parent / "data" / "test.pdb"
    pdb = app.PDBFile(str(pdb_path))
    xyz0 = np.asarray(pdb.getPositions(asNumpy=True).value_in_unit(unit.nanometer))
    box = np.asarray(pdb.topology.getPeriodicBoxVectors().value_in_unit(unit.nanometer))
    t0 = time.perf_counter()
    mapping = coarse_grain(pdb_path, scheme=args.scheme, atoms_per_bead=args.atoms_per_bead,
                           keep=args.keep)
    t_cg = time.perf_counter() - t0
    print(f"system: villin + water, {xyz0.shape[0]} atoms; mapping: {mapping} "
          f"(coarse_grain took {t_cg:.2f} s)")

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep_dir) if args.keep_dir else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        dcd = folder / "villin_water.dcd"
        t0 = time.perf_counter()
        _write_dcd(dcd, xyz0, box, args.frames, args.seed)
        size_gb = os.path.getsize(dcd) / 1e9
        print(f"wrote {args.frames} frames ({size_gb:.2f} GB) in {time.perf_counter() - t0:.1f} s")
        md_top = mdtraj.Topology.from_openmm(pdb.topology)

        def read_only() -> int:
            n = 0
            for piece in mdtraj.iterload(str(dcd), top=md_top, chunk=args.chunk):
                n += piece.n_frames
            return n

        def map_file() -> np.ndarray:
            return map_trajectory(mapping, dcd, top=md_top, chunk=args.chunk)

        t_read = min(_timed(read_only) for _ in range(args.repeats))
        t_map = min(_timed(map_file) for _ in range(args.repeats))
        beads = map_file()
        assert beads.shape == (args.frames, mapping.num_beads, 3)

        # compute only: one chunk of frames already in memory, extrapolated to all frames
        piece = next(iter(mdtraj.iterload(str(dcd), top=md_top, chunk=args.chunk)))
        plan = _plan(mapping, piece.n_atoms)
        boxes = _box_vectors(piece)
        scale = args.frames / piece.n_frames
        t_compute = min(_timed(lambda: _map_chunk(plan, piece.xyz, boxes))
                        for _ in range(3)) * scale
        t_product = min(_timed(lambda: _map_chunk(plan, piece.xyz, None))
                        for _ in range(3)) * scale

    print(f"read with mdtraj.iterload       : {t_read:8.2f} s "
          f"({args.frames / t_read:,.0f} frames/s)")
    print(f"map_trajectory (read+whole+map) : {t_map:8.2f} s "
          f"({args.frames / t_map:,.0f} frames/s)")
    print(f"compute only (gather+whole+map) : {t_compute:8.2f} s "
          f"(without unwrapping {t_product:.2f} s)")
    print(f"ratio map / read                : {t_map / t_read:8.2f}")
    return 0


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    raise SystemExit(main())
