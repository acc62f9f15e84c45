"""Training data: windows of k history frames + the next frame(s) of bead trajectories.

``WindowDataset`` reads CGML trajectory files (CONTRACTS.md section 3) lazily;
``collate_windows`` batches windows of molecules of any sizes into one ``GraphBatch``;
``compute_statistics`` gives the normalisation scales stored with a model.
"""

from openmm_cgml.datasets.graph import GraphBatch, MoleculeGraph, WindowSample, collate_windows
from openmm_cgml.datasets.windows import WindowDataset, compute_statistics, resolve_files

__all__ = ["GraphBatch", "MoleculeGraph", "WindowSample", "WindowDataset", "collate_windows",
           "compute_statistics", "resolve_files"]
