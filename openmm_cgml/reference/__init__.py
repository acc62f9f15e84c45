"""Reference data: all-atom OpenMM MD and the polymer benchmark -> HDF5 trajectories at the
coarse-grained stride (docs/CONTRACTS.md section 3).

- :mod:`~openmm_cgml.reference.storage`: the HDF5 format (:class:`TrajectoryFile` reader,
  interruption-safe appending writer).
- :mod:`~openmm_cgml.reference.allatom`: amber14 + GBn2 (or TIP3P/PME) reference runs,
  resumable and appendable (:func:`run_reference`, :class:`MDSettings`).
- :mod:`~openmm_cgml.reference.peptide`: sequence -> all-atom peptide (:func:`build_peptide`).
- :mod:`~openmm_cgml.reference.polymer`: comb-polymer family with splits by composition
  (:func:`generate_polymer_dataset`).

Units: nm, ps, K, kJ/mol, amu (polymers: reduced LJ units mapped to sigma = 0.5 nm,
m = 100 amu, epsilon = kT at 300 K, tau = 3.166 ps).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "TrajectoryFile": "openmm_cgml.reference.storage",
    "MDSettings": "openmm_cgml.reference.allatom",
    "RunResult": "openmm_cgml.reference.allatom",
    "run_reference": "openmm_cgml.reference.allatom",
    "select_platform": "openmm_cgml.reference.allatom",
    "build_peptide": "openmm_cgml.reference.peptide",
    "write_peptide_pdb": "openmm_cgml.reference.peptide",
    "generate_polymer_dataset": "openmm_cgml.reference.polymer",
    "generate_compositions": "openmm_cgml.reference.polymer",
    "PolymerParameters": "openmm_cgml.reference.polymer",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'openmm_cgml.reference' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
