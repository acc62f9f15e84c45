"""Mapping layer: all-atom structures and trajectories -> beads.

``coarse_grain(source, scheme=...)`` reads and cleans a structure (PDBFixer) and returns a
:class:`BeadMapping`; ``map_trajectory(mapping, traj)`` maps all-atom frames onto beads.
See docs/CONTRACTS.md §2.
"""

from openmm_cgml.mapping.bead_mapping import BeadMapping
from openmm_cgml.mapping.build import atom_features, atom_graph, coarse_grain
from openmm_cgml.mapping.features import BOND_TYPES, RESIDUE_VOCAB, ROLE_VOCAB
from openmm_cgml.mapping.trajectory import bead_trajectory, iter_bead_frames, map_trajectory

__all__ = [
    "BeadMapping",
    "coarse_grain",
    "map_trajectory",
    "iter_bead_frames",
    "bead_trajectory",
    "atom_graph",
    "atom_features",
    "RESIDUE_VOCAB",
    "ROLE_VOCAB",
    "BOND_TYPES",
]
