"""Fraction of native contacts Q (against the first frame, the CG-mapped PDB structure) and Rg
(nm) of each replica of `cgml simulate` outputs of 35-bead villin:

    python q.py OUT [OUT ...]
"""

import sys

import mdtraj as md
import numpy as np

from openmm_cgml.analysis.structure import fraction_native_contacts, radius_of_gyration

BEADS = 35
for d in sys.argv[1:]:
    t = md.load(f"{d}/trajectory.dcd", top=f"{d}/beads.pdb")
    x = t.xyz.astype(np.float64)
    out = []
    for r in range(x.shape[1] // BEADS):
        xr = x[:, r * BEADS : (r + 1) * BEADS]
        q = fraction_native_contacts(xr, xr[0])
        rg = radius_of_gyration(xr)
        half = len(q) // 2
        out.append(f"rep{r}: Q mean {q[1:].mean():.2f} last-half {q[half:].mean():.2f} "
                   f"min {q[1:].min():.2f}; Rg {rg[1:].mean():.3f}")
    print(d, "|", " | ".join(out))
