"""map_trajectory: arrays, mdtraj trajectories and streamed files; periodic unwrapping."""

from __future__ import annotations

import mdtraj
import numpy as np
import openmm.app as app
import openmm.unit as unit
import pytest

from openmm_cgml.mapping import coarse_grain, map_trajectory
from openmm_cgml.mapping.trajectory import iter_bead_frames


@pytest.fixture(scope="module")
def villin(villin_path):
    pdb = app.PDBFile(str(villin_path))
    xyz = pdb.getPositions(asNumpy=True).value_in_unit(unit.nanometer)
    box = np.array(pdb.topology.getPeriodicBoxVectors().value_in_unit(unit.nanometer))
    return coarse_grain(villin_path), pdb.topology, np.asarray(xyz), box


def _frames(xyz: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return xyz[None] + rng.normal(scale=0.01, size=(n,) + xyz.shape)


def _write_dcd(path, topology, frames, box) -> None:
    with open(path, "wb") as fh:
        dcd = app.DCDFile(fh, topology, 0.002 * unit.picosecond)
        for f in frames:
            dcd.writeModel(f * unit.nanometer, periodicBoxVectors=box * unit.nanometer)


def test_arrays_of_mapped_or_source_atoms(villin):
    m, _, xyz, _ = villin
    frames = _frames(xyz, 5)
    want = m.bead_positions(frames[:, m.source_atoms])
    got_src = map_trajectory(m, frames, dtype=np.float64)  # all 8867 input atoms
    got_map = map_trajectory(m, frames[:, m.source_atoms], dtype=np.float64)
    np.testing.assert_allclose(got_src, want, atol=1e-12)
    np.testing.assert_allclose(got_map, want, atol=1e-12)
    chunks = list(iter_bead_frames(m, frames, chunk=2))
    assert [c.shape[0] for c in chunks] == [2, 2, 1]
    np.testing.assert_allclose(np.concatenate(chunks), want, atol=1e-12)
    np.testing.assert_allclose(map_trajectory(m, frames, stride=2), want[::2], atol=1e-5)
    with pytest.raises(ValueError, match="trajectory has 100 atoms"):
        map_trajectory(m, frames[:, :100])


def test_dcd_file_streamed_and_unwrapped(tmp_path, villin):
    m, top, xyz, box = villin
    lengths = np.diag(box)
    frames = _frames(xyz, 7) + 0.5 * lengths  # move the protein across the box faces
    wrapped = frames - np.floor(frames / lengths) * lengths
    assert np.any(np.abs(wrapped - frames) > 1.0)  # wrapping really moved atoms
    path = tmp_path / "villin.dcd"
    _write_dcd(path, top, wrapped, box)
    expected = m.bead_positions(frames[:, m.source_atoms])
    got = map_trajectory(m, path, chunk=3, dtype=np.float64)
    assert got.shape == (7, 35, 3)
    # whole molecule: equal to the unwrapped beads up to one lattice translation
    shift = got - expected
    np.testing.assert_allclose(shift, shift[:, :1].repeat(35, axis=1), atol=2e-4)
    np.testing.assert_allclose(shift[:, 0] / lengths, np.round(shift[:, 0] / lengths), atol=1e-4)
    bonds = np.linalg.norm(got[:, m.cg_bonds[:, 0]] - got[:, m.cg_bonds[:, 1]], axis=-1)
    assert bonds.max() < 0.9  # centres of consecutive residues
    broken = map_trajectory(m, path, make_whole=False)
    bonds_b = np.linalg.norm(broken[:, m.cg_bonds[:, 0]] - broken[:, m.cg_bonds[:, 1]], axis=-1)
    assert bonds_b.max() > 2.0  # without unwrapping, beads are torn apart
    # an mdtraj.Trajectory gives the same result as the file
    traj = mdtraj.load(str(path), top=mdtraj.Topology.from_openmm(top))
    np.testing.assert_allclose(map_trajectory(m, traj, chunk=4), got, atol=1e-5)
    # array input with a box
    np.testing.assert_allclose(
        map_trajectory(m, wrapped, box=box, dtype=np.float64), got, atol=2e-4
    )


def test_trajectory_of_cleaned_atoms(tmp_path, data_dir):
    m = coarse_grain(data_dir / "villin_missing_atoms.pdb")
    frames = _frames(m.positions, 3, seed=1)
    path = tmp_path / "clean.dcd"
    _write_dcd(path, m.atom_topology, frames, np.eye(3) * 6.0)
    got = map_trajectory(m, path, dtype=np.float64)
    np.testing.assert_allclose(got, m.bead_positions(frames), atol=1e-4)


def test_bad_trajectory_inputs(tmp_path, villin):
    m = villin[0]
    with pytest.raises(FileNotFoundError):
        map_trajectory(m, tmp_path / "none.dcd")
    with pytest.raises(ValueError, match="chunk"):
        map_trajectory(m, np.zeros((1, m.num_atoms, 3)), chunk=0)
    with pytest.raises(ValueError, match=r"\[T, n, 3\]"):
        map_trajectory(m, np.zeros((2, m.num_atoms, 2)))
