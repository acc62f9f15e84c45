"""Structural observables against closed forms."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from openmm_cgml.analysis import (
    angle_triples,
    bond_angles,
    bond_lengths,
    center_of_mass,
    contact_map,
    distance_map,
    fraction_native_contacts,
    native_contacts,
    radius_of_gyration,
    rmsd,
    superpose,
)


def ring(n: int, radius: float) -> np.ndarray:
    phi = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([radius * np.cos(phi), radius * np.sin(phi), np.zeros(n)], axis=1)


def test_rg_of_ring_equals_radius():
    assert radius_of_gyration(ring(37, 1.7)) == pytest.approx(1.7, rel=1e-12)


def test_rg_of_two_masses():
    x = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 2.0]])
    m = np.array([1.0, 3.0])
    # Rg^2 = m1 m2 d^2 / (m1 + m2)^2
    assert radius_of_gyration(x, m) == pytest.approx(np.sqrt(3 * 4 / 16), rel=1e-12)
    # equal masses by default: Rg = d/2
    assert radius_of_gyration(x) == pytest.approx(1.0)


def test_rg_of_uniform_ball_and_rod():
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(200_000, 3))
    pts *= (rng.uniform(size=200_000) ** (1 / 3) / np.linalg.norm(pts, axis=1))[:, None]
    assert radius_of_gyration(2.0 * pts) == pytest.approx(2.0 * np.sqrt(3 / 5), rel=5e-3)
    rod = np.zeros((100_001, 3))
    rod[:, 0] = np.linspace(0, 3.0, 100_001)
    assert radius_of_gyration(rod) == pytest.approx(3.0 / np.sqrt(12), rel=1e-4)


def test_rg_trajectory_shape_and_invariance():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(10, 3))
    m = rng.uniform(1, 5, size=10)
    rot = Rotation.random(5, random_state=2).as_matrix()
    traj = np.einsum("ij,tkj->tik", x, rot) + rng.normal(size=(5, 1, 3)) * 10
    rg = radius_of_gyration(traj, m)
    assert rg.shape == (5,)
    np.testing.assert_allclose(rg, radius_of_gyration(x, m), rtol=1e-10)
    assert isinstance(radius_of_gyration(x, m), float)


def test_rg_accepts_openmm_quantity():
    from openmm import unit

    x = ring(12, 0.5) * 10.0 * unit.angstrom
    assert radius_of_gyration(x) == pytest.approx(0.5)


def test_bad_shapes_raise_clear_errors():
    with pytest.raises(ValueError, match=r"\[\.\.\., N, 3\]"):
        radius_of_gyration(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="masses must have shape"):
        radius_of_gyration(np.zeros((4, 3)), np.ones(3))


def test_center_of_mass():
    x = np.array([[0.0, 0, 0], [4.0, 0, 0]])
    np.testing.assert_allclose(center_of_mass(x, [3.0, 1.0]), [1.0, 0, 0])


def test_bonds_and_angles_of_square():
    x = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], dtype=float)
    bonds = np.array([[0, 1], [1, 2], [2, 3]])
    np.testing.assert_allclose(bond_lengths(x, bonds), [1, 1, 1])
    tri = angle_triples(bonds)
    np.testing.assert_array_equal(tri, [[0, 1, 2], [1, 2, 3]])
    np.testing.assert_allclose(bond_angles(x, tri), [np.pi / 2, np.pi / 2])
    # branched: centre 0 bonded to 1, 2, 3 -> three angles around 0
    tri_b = angle_triples([[0, 1], [0, 2], [0, 3]])
    assert len(tri_b) == 3 and np.all(tri_b[:, 1] == 0)
    # bonds given as [2, B] also accepted
    np.testing.assert_allclose(bond_lengths(x[None], bonds.T), [[1, 1, 1]])


def test_contact_and_distance_maps():
    a = np.array([[0, 0, 0], [0.5, 0, 0], [3, 0, 0]], dtype=float)
    b = np.array([[0, 0, 0], [2.2, 0, 0], [3, 0, 0]], dtype=float)
    cm = contact_map(np.stack([a, b]), cutoff=1.0)
    assert cm[0, 1] == pytest.approx(0.5) and cm[1, 0] == pytest.approx(0.5)
    assert cm[0, 2] == 0 and cm[1, 2] == pytest.approx(0.5)
    np.testing.assert_allclose(np.diag(cm), 1)
    dm = distance_map(np.stack([a, b]))
    assert dm[0, 1] == pytest.approx(1.35) and dm[0, 2] == pytest.approx(3.0)


def test_rmsd_of_rotated_copy_is_zero():
    rng = np.random.default_rng(3)
    ref = rng.normal(size=(20, 3))
    m = rng.uniform(1, 3, 20)
    rot = Rotation.random(4, random_state=4).as_matrix()
    traj = np.einsum("tij,nj->tni", rot, ref) + rng.normal(size=(4, 1, 3))
    np.testing.assert_allclose(rmsd(traj, ref, m), 0, atol=1e-10)
    np.testing.assert_allclose(rmsd(traj, ref), 0, atol=1e-10)
    sup, rots = superpose(traj, ref)
    np.testing.assert_allclose(sup, np.broadcast_to(ref, sup.shape), atol=1e-10)
    np.testing.assert_allclose(np.linalg.det(rots), 1)


def test_rmsd_known_value_and_no_reflection():
    ref = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=float)
    moved = ref.copy()
    moved[0, 0] += 0.4
    # without superposition: one of four atoms displaced by 0.4 nm
    assert rmsd(moved, ref, superposed=False) == pytest.approx(np.sqrt(0.16 / 4))
    assert rmsd(moved, ref) < rmsd(moved, ref, superposed=False)
    # a chiral tetrahedron and its mirror image cannot be superposed by a rotation
    mirror = ref * np.array([-1.0, 1.0, 1.0])
    assert rmsd(mirror, ref) > 0.1


def test_native_contacts():
    ref = np.zeros((10, 3))
    ref[:, 0] = np.arange(10) * 0.4  # straight line, 0.4 nm spacing
    ref[9] = ref[0] + [0, 0.5, 0]  # bring the end next to the start
    pairs = native_contacts(ref, cutoff=1.0, min_separation=3)
    assert [0, 9] in pairs.tolist()
    assert all(j - i > 3 for i, j in pairs)
    assert fraction_native_contacts(ref, ref) == pytest.approx(1.0, abs=1e-3)
    far = ref.copy()
    far[9] = [100.0, 0, 0]
    q = fraction_native_contacts(np.stack([ref, far]), ref, pairs=[[0, 9]])
    assert q[0] > 0.99 and q[1] < 1e-6
