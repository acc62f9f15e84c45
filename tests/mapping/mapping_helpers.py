"""Builders shared by the mapping tests (unique module name: imported by the test files)."""

from __future__ import annotations

import numpy as np
import openmm.app as app


def make_polymer(
    length: int = 20, seed: int = 0
) -> tuple[app.Topology, np.ndarray, np.ndarray]:
    """Comb polymer like the reference layer's: residues ``P<b><s>``, particles B1/B2/S1/S2
    without elements, bonds backbone-backbone and backbone-side; masses 100 amu."""
    rng = np.random.default_rng(seed)
    top = app.Topology()
    chain = top.addChain("A")
    prev = None
    for i in range(length):
        b = 1 + (i % 2)
        s = 1 + int(rng.random() < 0.5)
        res = top.addResidue(f"P{b}{'AB'[s - 1]}", chain, str(i + 1))
        bb = top.addAtom(f"B{b}", None, res)
        sc = top.addAtom(f"S{s}", None, res)
        top.addBond(bb, sc)
        if prev is not None:
            top.addBond(prev, bb)
        prev = bb
    steps = rng.normal(size=(2 * length, 3))
    steps *= 0.5 / np.linalg.norm(steps, axis=1, keepdims=True)
    pos = np.cumsum(steps, axis=0)
    return top, pos, np.full(2 * length, 100.0)
