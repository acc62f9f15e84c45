"""Small synthetic trajectory files in the CONTRACTS.md section 3 layout (tests, examples).

:func:`write_synthetic_chain` simulates a toy coarse-grained chain with NumPy (harmonic
CG bonds, soft bead repulsion, Langevin thermostat, units nm / ps / amu / kJ/mol) and
writes it as an ``openmm-cgml-trajectory`` HDF5 file with a fine graph of
``atoms_per_bead`` atoms per bead. It exists so the dataset, model and training layers
can be tested without running OpenMM; real data come from ``openmm_cgml.reference``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

BOLTZMANN_KJ = 0.0083144626  # kJ/mol/K


def synthetic_mapping_dict(num_beads: int, atoms_per_bead: int = 2,
                           seed: int = 0) -> dict:
    """A mapping dict (``BeadMapping.to_dict()`` keys of CONTRACTS.md section 2) of a linear chain.

    Atoms ``a*atoms_per_bead .. (a+1)*atoms_per_bead-1`` form bead ``a``; atoms are bonded
    in a line; element/residue/role features are drawn from ``seed``.
    """
    rng = np.random.default_rng(seed)
    n_atoms = num_beads * atoms_per_bead
    atom_to_bead = np.repeat(np.arange(num_beads), atoms_per_bead)
    element = rng.choice([6, 7, 8, 16], size=n_atoms)
    masses = {6: 12.011, 7: 14.007, 8: 15.999, 16: 32.06}
    atom_mass = np.array([masses[int(e)] for e in element])
    bead_masses = np.bincount(atom_to_bead, weights=atom_mass, minlength=num_beads)
    atom_bonds = np.stack([np.arange(n_atoms - 1), np.arange(1, n_atoms)], axis=1)
    bond_types = np.where(atom_to_bead[atom_bonds[:, 0]] == atom_to_bead[atom_bonds[:, 1]], 5, 4)
    cg_bonds = np.stack([np.arange(num_beads - 1), np.arange(1, num_beads)], axis=1)
    residue = rng.integers(1, 20, size=num_beads)[atom_to_bead]
    role = rng.integers(0, 4, size=n_atoms)
    return {
        "format": "openmm-cgml-mapping",
        "version": 1,
        "num_atoms": int(n_atoms),
        "num_beads": int(num_beads),
        "atom_to_bead": atom_to_bead.tolist(),
        "atom_masses": atom_mass.tolist(),
        "bead_masses": bead_masses.tolist(),
        "cg_bonds": cg_bonds.tolist(),
        "bead_types": np.zeros(num_beads, dtype=int).tolist(),
        "bead_type_names": ["B"],
        "atom_bonds": atom_bonds.tolist(),
        "bond_types": bond_types.tolist(),
        "atom_features": {
            "element": element.tolist(),
            "residue": residue.tolist(),
            "role": role.tolist(),
            "mass": atom_mass.tolist(),
        },
    }


def simulate_chain(num_beads: int, num_frames: int, stride_ps: float = 10.0,
                   temperature_K: float = 300.0, bond_length_nm: float = 0.38,
                   bond_k: float = 2000.0, friction_per_ps: float = 0.05,
                   substeps: int = 200, seed: int = 0,
                   bead_masses: np.ndarray | None = None) -> np.ndarray:
    """Langevin dynamics of a bead-spring chain, sampled every ``stride_ps``.

    Forces: harmonic bonds ``k (r - r0)^2 / 2`` (kJ/mol/nm^2) and a soft repulsion
    ``eps (1 - r/rc)^2`` between non-bonded beads closer than ``rc = r0``. Integrated with
    a BAOAB-like scheme (``substeps`` fine steps per stored frame, raised if needed so that
    a bond period spans at least 10 fine steps).
    Returns float32 [num_frames, num_beads, 3] nm.
    """
    rng = np.random.default_rng(seed)
    m = np.full(num_beads, 100.0) if bead_masses is None else np.asarray(bead_masses, float)
    kT = BOLTZMANN_KJ * temperature_K
    # at least 10 fine steps per period of the stiffest bond (stable BAOAB)
    period = 2 * np.pi * np.sqrt(m.min() / (2 * bond_k))
    substeps = max(int(substeps), int(np.ceil(10 * stride_ps / period)))
    h = stride_ps / substeps
    # self-avoiding-ish start: random walk with unit steps
    steps = rng.normal(size=(num_beads, 3))
    steps /= np.linalg.norm(steps, axis=1, keepdims=True)
    x = np.cumsum(steps * bond_length_nm, axis=0)
    v = rng.normal(size=x.shape) * np.sqrt(kT / m)[:, None]
    bonded = np.zeros((num_beads, num_beads), bool)
    idx = np.arange(num_beads - 1)
    bonded[idx, idx + 1] = bonded[idx + 1, idx] = True
    np.fill_diagonal(bonded, True)
    rc, eps = bond_length_nm, 10.0 * kT

    def force(x: np.ndarray) -> np.ndarray:
        d = x[:, None, :] - x[None, :, :]
        r = np.linalg.norm(d, axis=-1) + np.eye(num_beads)
        f = np.zeros_like(x)
        b = x[1:] - x[:-1]
        lb = np.linalg.norm(b, axis=1, keepdims=True)
        fb = -bond_k * (lb - bond_length_nm) * b / lb
        f[1:] += fb
        f[:-1] -= fb
        mask = (~bonded) & (r < rc)
        mag = np.where(mask, 2 * eps * (1 - r / rc) / rc, 0.0)
        f += (mag[:, :, None] * d / r[:, :, None]).sum(1)
        return f

    c1 = np.exp(-friction_per_ps * h)
    c2 = np.sqrt((1 - c1 ** 2) * kT / m)[:, None]
    out = np.empty((num_frames, num_beads, 3), np.float32)
    f = force(x)
    for t in range(num_frames):
        out[t] = x
        for _ in range(substeps):
            v += 0.5 * h * f / m[:, None]
            x += 0.5 * h * v
            v = c1 * v + c2 * rng.normal(size=v.shape)
            x += 0.5 * h * v
            f = force(x)
            v += 0.5 * h * f / m[:, None]
    if not np.all(np.isfinite(out)):
        raise RuntimeError("simulate_chain: the toy simulation blew up; lower stride_ps")
    return out


def write_trajectory_file(path: str | os.PathLike, bead_positions: np.ndarray, mapping: dict,
                          stride_ps: float, name: str | None = None, seed: int = 0,
                          temperature_K: float = 300.0, kind: str = "polymer",
                          forcefield: str = "synthetic") -> Path:
    """Write bead positions [T, N, 3] (nm) + a mapping dict as a CONTRACTS.md section 3 file.

    Goes through the reference layer's writer (``openmm_cgml.reference.storage``), so the
    files are exactly those the real data pipeline makes.
    """
    from openmm_cgml.reference.storage import append_frames, create_trajectory

    pos = np.asarray(bead_positions, dtype=np.float32)
    if pos.ndim != 3 or pos.shape[2] != 3:
        raise ValueError(f"bead_positions must be [T, N, 3], got {pos.shape}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    create_trajectory(path, mapping=mapping, atom_topology_pdb="", attrs={
        "kind": kind, "name": name or path.stem, "temperature_K": temperature_K,
        "stride_ps": stride_ps, "fine_timestep_ps": stride_ps, "seed": seed,
        "forcefield": forcefield, "composition": {"L": int(pos.shape[1])}})
    if len(pos):
        append_frames(path, pos, np.arange(len(pos)) * stride_ps)
    return path


def write_synthetic_chain(path: str | os.PathLike, num_beads: int = 8, num_frames: int = 64,
                          stride_ps: float = 2.0, atoms_per_bead: int = 2, seed: int = 0,
                          temperature_K: float = 300.0, substeps: int = 100) -> Path:
    """Simulate a toy chain and write it as an ``openmm-cgml-trajectory`` file (atomically)."""
    mapping = synthetic_mapping_dict(num_beads, atoms_per_bead, seed)
    pos = simulate_chain(num_beads, num_frames, stride_ps=stride_ps,
                         temperature_K=temperature_K, seed=seed, substeps=substeps,
                         bead_masses=np.asarray(mapping["bead_masses"]))
    return write_trajectory_file(path, pos, mapping, stride_ps, seed=seed,
                                 temperature_K=temperature_K,
                                 forcefield="synthetic toy chain (openmm_cgml.datasets.synthetic)")
