"""The polymer benchmark family: single comb chains in implicit solvent (reduced LJ units).

Model (see /work/shared/POLYMER_BENCHMARK.md and docs/CONTRACTS.md section 3):

* A chain has ``L`` monomers; monomer ``i`` is a backbone bead (type ``B1`` or ``B2``)
  bonded to backbone bead ``i-1`` and to one side bead (``S1`` solvophobic or ``S2``
  solvophilic): ``2L`` particles, ``2L-1`` harmonic bonds (k = 100 eps/sigma^2,
  r0 = 1 sigma). Topology: one ``openmm.app.Chain`` per polymer, one residue per monomer
  named ``P<backbone 1|2><side A|B>`` (A = S1, B = S2), atoms ``B1``/``B2``/``S1``/``S2``
  with ``element=None``; masses are passed to the mapping through ``masses=``.
* Pair potential: Ashbaugh-Hatch form of the Lennard-Jones potential, cut and shifted at
  r_c = 2.5 sigma. With U_LJ(r) = 4 eps [(sigma/r)^12 - (sigma/r)^6] and r_m = 2^(1/6) sigma::

      U(r) = U_LJ(r) + eps - lambda_ij (eps + U_LJ(r_c))     r <  r_m   (WCA core)
      U(r) = lambda_ij (U_LJ(r) - U_LJ(r_c))                  r_m <= r < r_c

  so every pair has the same repulsive (WCA, epsilon) core and a type-pair attraction
  strength ``lambda_ij`` (well depth lambda_ij * epsilon; tabulated 4 x 4,
  :data:`DEFAULT_ATTRACTION`): S1-S1 strongly attractive (1.5), S1-backbone 0.7,
  backbone-backbone mildly attractive (0.3-0.5), S2 with anything purely repulsive (0).
  U and its derivative are continuous at r_m; U is continuous (zero) at r_c. Bonded pairs
  (1-2) are excluded. With these values the family spans swollen coils to globules: for
  L = 40 chains (random pattern, 500 tau averages) Rg = 4.7 sigma at f_S1 = 0, 4.1 at 0.3,
  2.6 at 0.6 and 2.5 at 0.85 -- the coil-globule transition lies inside the training
  range of f_S1, the test fractions lie on both sides of it.
* Langevin dynamics (LangevinMiddleIntegrator), T* = 1, friction 1/tau, fine step
  0.01 tau, no centre-of-mass motion remover (it would couple the chains).
* Many chains in one System: each chain is placed on its own site of a cubic grid spaced
  further apart than any chain's extent plus the cutoff (non-periodic cutoff with a
  neighbour list, so no inter-chain pair is ever inside the cutoff). After every frame each
  chain is translated rigidly back to its site -- exact, since chains feel no external
  force -- and the stored coordinates add the accumulated shift back, so every stored
  trajectory is continuous. Each frame the separation is checked (bounding spheres) and
  the grid enlarged if needed; a violation is counted and reported.

Reduced-unit mapping (stated in every file's attributes):

* sigma = 0.5 nm, particle mass m = 100 amu, epsilon = k_B T at 300 K = 2.494 kJ/mol,
  so T* = 1 <-> 300 K and tau = sigma sqrt(m / epsilon) = 3.166 ps
  (1 kJ/mol = 1 amu nm^2 / ps^2).
* Defaults: fine step 0.01 tau = 0.0317 ps, friction 1/tau = 0.316 / ps,
  stride 5 tau = 15.8 ps (500 fine steps).

Compositions (:func:`generate_compositions`): ``L`` uniform on integers [20, 100]; the
training class is patterns ``random`` or ``alternating`` with S1 fraction f in
[0.2, 0.6]; validation = held-out chains of the training class; test = a different
class: ``blocky`` patterns (block length 3-8) and/or f outside the training range
(f in [0.0, 0.15] or [0.65, 0.85]). Seeded, written to ``splits.json``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import os
import time as _time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from openmm_cgml.reference import storage
from openmm_cgml.reference.allatom import (
    budget_spent,
    load_checkpoint,
    openmm_seed,
    restore_context,
    save_checkpoint,
    select_platform,
)
from openmm_cgml.utils import atomic_write

# ---------------------------------------------------------------- reduced units -> OpenMM
MOLAR_GAS_CONSTANT_KJ = 0.00831446261815324  # kJ/(mol K)
SIGMA_NM = 0.5
MASS_AMU = 100.0
REFERENCE_TEMPERATURE_K = 300.0
EPSILON_KJ = MOLAR_GAS_CONSTANT_KJ * REFERENCE_TEMPERATURE_K  # 2.494 kJ/mol = kT at 300 K
TAU_PS = SIGMA_NM * math.sqrt(MASS_AMU / EPSILON_KJ)  # 3.166 ps

TYPE_NAMES = ("B1", "B2", "S1", "S2")
#: attraction strength lambda_ij (units of epsilon), rows/cols in TYPE_NAMES order
DEFAULT_ATTRACTION = np.array([
    #  B1   B2   S1   S2
    [0.3, 0.4, 0.7, 0.0],  # B1
    [0.4, 0.5, 0.7, 0.0],  # B2
    [0.7, 0.7, 1.5, 0.0],  # S1
    [0.0, 0.0, 0.0, 0.0],  # S2
])
PATTERNS = ("random", "alternating", "blocky")
FORCEFIELD_NAME = "cgml-comb-polymer-v1 (Ashbaugh-Hatch LJ, rc 2.5 sigma, harmonic bonds)"
#: the attraction matrix is also stored in every file (attribute ``simulation``) and in
#: ``splits.json`` (``parameters``)
TRAIN_F_RANGE = (0.2, 0.6)
TEST_F_RANGES = ((0.0, 0.15), (0.65, 0.85))
TRAIN_PATTERNS = ("random", "alternating")


def units_description() -> dict[str, Any]:
    """The reduced-unit mapping as stored in every polymer file."""
    return {"sigma_nm": SIGMA_NM, "mass_amu": MASS_AMU, "epsilon_kJ_per_mol": EPSILON_KJ,
            "epsilon_is_kT_at_K": REFERENCE_TEMPERATURE_K, "tau_ps": TAU_PS}


@dataclass
class PolymerParameters:
    """Force field and integration settings, in reduced units (sigma, epsilon, m, tau)."""

    attraction: list[list[float]] = dataclasses.field(
        default_factory=lambda: DEFAULT_ATTRACTION.tolist())
    cutoff_sigma: float = 2.5
    bond_k: float = 100.0  # epsilon / sigma^2
    bond_r0: float = 1.0  # sigma
    temperature: float = 1.0  # epsilon / k_B
    friction: float = 1.0  # 1 / tau
    timestep: float = 0.01  # tau

    def __post_init__(self) -> None:
        a = np.asarray(self.attraction, dtype=float)
        if a.shape != (4, 4) or not np.allclose(a, a.T):
            raise ValueError("attraction must be a symmetric 4x4 matrix (B1, B2, S1, S2)")
        if np.any(a < 0):
            raise ValueError("attraction strengths must be >= 0 (0 = purely repulsive)")
        if self.cutoff_sigma <= 2 ** (1 / 6):
            raise ValueError("cutoff_sigma must exceed 2^(1/6)")
        for key in ("bond_k", "bond_r0", "temperature", "friction", "timestep"):
            if getattr(self, key) <= 0:
                raise ValueError(f"polymer parameter {key} must be > 0")

    @property
    def temperature_K(self) -> float:
        return self.temperature * REFERENCE_TEMPERATURE_K

    @property
    def timestep_ps(self) -> float:
        return self.timestep * TAU_PS


# ------------------------------------------------------------------- compositions
@dataclass
class Composition:
    """One polymer: its composition class and its actual sequence.

    ``backbone`` is a string of ``1``/``2`` (B1/B2), ``sides`` of ``A``/``B`` (S1/S2),
    both of length ``length``.
    """

    name: str
    length: int
    f_s1_target: float
    pattern: str
    block: int | None
    split: str
    test_class: str | None
    backbone: str
    sides: str

    @property
    def f_s1(self) -> float:
        return self.sides.count("A") / self.length

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["f_S1"] = self.f_s1
        d["L"] = self.length
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Composition:
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in fields})


def side_sequence(length: int, f_s1: float, pattern: str, block: int | None,
                  rng: np.random.Generator) -> str:
    """Side-chain sequence (``A`` = S1, ``B`` = S2) with round(f*L) S1 side chains.

    ``random``: S1 positions drawn uniformly; ``alternating``: S1 spread as evenly as
    possible (ABAB... at f = 0.5), random phase; ``blocky``: runs of ``block`` S1 separated
    by S2 runs, random phase, then made exact.
    """
    n1 = int(round(f_s1 * length))
    if pattern == "random":
        s = np.zeros(length, bool)
        s[rng.choice(length, n1, replace=False)] = True
    elif pattern == "alternating":
        s = np.zeros(length, bool)
        if n1:
            phase = rng.random()
            s[np.floor((np.arange(n1) + phase) * length / n1).astype(int)] = True
    elif pattern == "blocky":
        if not block or block < 1:
            raise ValueError("blocky pattern needs block >= 1")
        if n1 == 0:
            s = np.zeros(length, bool)
        else:
            gap = max(1, int(round(block * (1 - f_s1) / max(f_s1, 1e-9))))
            unit_ = np.concatenate([np.ones(block, bool), np.zeros(gap, bool)])
            reps = length // len(unit_) + 2
            full = np.tile(unit_, reps)
            start = int(rng.integers(len(unit_)))
            s = full[start:start + length].copy()
            # make the count exact by flipping at run boundaries
            while s.sum() > n1:
                ones = np.flatnonzero(s)
                s[ones[-1] if rng.random() < 0.5 else ones[0]] = False
            while s.sum() < n1:
                zeros = np.flatnonzero(~s)
                s[zeros[-1] if rng.random() < 0.5 else zeros[0]] = True
    else:
        raise ValueError(f"pattern must be one of {PATTERNS}, got {pattern!r}")
    return "".join("A" if x else "B" for x in s)


def _in_train_class(f: float, pattern: str) -> bool:
    return pattern in TRAIN_PATTERNS and TRAIN_F_RANGE[0] <= f <= TRAIN_F_RANGE[1]


def generate_compositions(
    n_chains: int,
    split_seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    min_length: int = 20,
    max_length: int = 100,
) -> list[Composition]:
    """Draw ``n_chains`` compositions with train/val/test splits by composition class.

    Train and val: pattern random/alternating, f_S1 uniform in [0.2, 0.6] (val chains are
    held-out sequences and lengths of the same class). Test (the unseen class), cycling
    through three sub-classes: ``blocky`` (f in the training range, block 3-8),
    ``f_outside`` (random/alternating, f in [0, 0.15] or [0.65, 0.85]) and
    ``blocky_f_outside``. ``L`` is uniform on the integers [min_length, max_length];
    backbone types B1/B2 are drawn with probability 1/2 each. Deterministic in
    ``split_seed``; no training composition is of the test class (checked).
    """
    if n_chains < 1:
        raise ValueError("need at least one chain")
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1
            and val_fraction + test_fraction < 1):
        raise ValueError("val_fraction and test_fraction must be in [0, 1) with sum < 1")
    if not 2 <= min_length <= max_length:
        raise ValueError(f"need 2 <= min_length <= max_length, got {min_length}, {max_length}")
    rng = np.random.default_rng(split_seed)
    n_test = int(round(test_fraction * n_chains))
    n_val = int(round(val_fraction * n_chains))
    if n_chains >= 3:
        n_test = max(n_test, 1) if test_fraction > 0 else 0
        n_val = max(n_val, 1) if val_fraction > 0 else 0
    n_train = n_chains - n_test - n_val
    if n_train < 0:
        raise ValueError("too few chains for the requested split")
    splits = ["train"] * n_train + ["val"] * n_val + ["test"] * n_test
    out: list[Composition] = []
    test_classes = ("blocky", "f_outside", "blocky_f_outside")
    n_test_seen = 0
    for i, split in enumerate(splits):
        length = int(rng.integers(min_length, max_length + 1))
        block: int | None = None
        test_class: str | None = None
        if split in ("train", "val"):
            f = float(rng.uniform(*TRAIN_F_RANGE))
            pattern = TRAIN_PATTERNS[int(rng.integers(len(TRAIN_PATTERNS)))]
        else:
            test_class = test_classes[n_test_seen % len(test_classes)]
            n_test_seen += 1
            if test_class == "blocky":
                f = float(rng.uniform(*TRAIN_F_RANGE))
            else:
                lo, hi = TEST_F_RANGES[int(rng.integers(len(TEST_F_RANGES)))]
                f = float(rng.uniform(lo, hi))
            if test_class.startswith("blocky"):
                pattern, block = "blocky", int(rng.integers(3, 9))
            else:
                pattern = TRAIN_PATTERNS[int(rng.integers(len(TRAIN_PATTERNS)))]
        sides = side_sequence(length, f, pattern, block, rng)
        backbone = "".join("2" if x else "1" for x in rng.random(length) < 0.5)
        comp = Composition(name=f"poly_{i:04d}", length=length, f_s1_target=f,
                           pattern=pattern, block=block, split=split, test_class=test_class,
                           backbone=backbone, sides=sides)
        # the actual (rounded) fraction decides the class
        if split == "test" and _in_train_class(comp.f_s1, pattern):
            raise AssertionError("internal error: a test composition fell in the train class")
        out.append(comp)
    return out


# ------------------------------------------------------------------ system building
def chain_topology(comps: Sequence[Composition], topology: Any = None) -> Any:
    """Add one chain per composition to an ``openmm.app.Topology`` (new one if None)."""
    from openmm import app

    top = topology if topology is not None else app.Topology()
    for comp in comps:
        chain = top.addChain(id=comp.name)
        prev_b = None
        for i, (bb, sd) in enumerate(zip(comp.backbone, comp.sides, strict=True)):
            res = top.addResidue(f"P{bb}{sd}", chain, id=str(i + 1))
            b = top.addAtom(f"B{bb}", None, res)
            s = top.addAtom("S1" if sd == "A" else "S2", None, res)
            if prev_b is not None:
                top.addBond(prev_b, b)
            top.addBond(b, s)
            prev_b = b
    return top


def particle_types(comp: Composition) -> np.ndarray:
    """Type index (0 B1, 1 B2, 2 S1, 3 S2) per particle [2L], order B, S per monomer."""
    t = np.empty(2 * comp.length, np.int64)
    t[0::2] = [0 if b == "1" else 1 for b in comp.backbone]
    t[1::2] = [2 if s == "A" else 3 for s in comp.sides]
    return t


def chain_bonds(length: int) -> np.ndarray:
    """Bonds [2L-1, 2] (local particle indices): backbone-backbone and backbone-side."""
    bb = np.stack([np.arange(0, 2 * length - 2, 2), np.arange(2, 2 * length, 2)], 1)
    bs = np.stack([np.arange(0, 2 * length, 2), np.arange(1, 2 * length, 2)], 1)
    return np.concatenate([bb, bs])


def initial_conformation(comp: Composition, rng: np.random.Generator,
                         bond: float = 1.0, min_dist: float = 0.95,
                         persistence: float = 1.0, max_restarts: int = 1000) -> np.ndarray:
    """Self-avoiding start [2L, 3] in sigma (centred at the origin).

    The backbone is a persistent random walk (new direction = previous direction +
    ``persistence`` x a random unit vector, normalised), each side bead a random unit step
    from its backbone bead; every particle keeps ``min_dist`` from all earlier ones. A walk
    that gets trapped is restarted (raises RuntimeError after ``max_restarts``).
    """
    n = comp.length

    def rand_unit() -> np.ndarray:
        v = rng.normal(size=3)
        return v / np.linalg.norm(v)

    for _ in range(max_restarts):
        pos = np.zeros((2 * n, 3))
        direction = rand_unit()
        ok = True
        for i in range(n):
            k = 2 * i
            if i > 0:
                for _ in range(100):
                    d = direction + persistence * rand_unit()
                    d /= np.linalg.norm(d)
                    p = pos[k - 2] + bond * d
                    if np.min(np.linalg.norm(pos[:k] - p, axis=1)) >= min_dist:
                        break
                else:
                    ok = False
                    break
                pos[k], direction = p, d
            for _ in range(100):
                p = pos[k] + bond * rand_unit()
                if np.min(np.linalg.norm(pos[:k + 1] - p, axis=1)) >= min_dist:
                    break
            else:
                ok = False
                break
            pos[k + 1] = p
        if ok:
            return pos - pos.mean(0)
    raise RuntimeError(f"{comp.name}: could not grow a self-avoiding start in "
                       f"{max_restarts} attempts")


def _system_sha256(system: Any) -> str:
    """Fingerprint of an ``openmm.System`` (its XML), stored in the checkpoint to detect a
    rebuilt System that differs from the one that was simulated."""
    import openmm

    return hashlib.sha256(openmm.XmlSerializer.serialize(system).encode()).hexdigest()


def _nonbonded_force(params: PolymerParameters) -> Any:
    import openmm

    rc = params.cutoff_sigma * SIGMA_NM
    ljc = 4.0 * EPSILON_KJ * ((SIGMA_NM / rc) ** 12 - (SIGMA_NM / rc) ** 6)
    rmin = 2 ** (1 / 6) * SIGMA_NM
    expr = (
        f"select(step(r-{rmin!r}), lam*(lj-({ljc!r})), lj+{EPSILON_KJ!r}-lam*({EPSILON_KJ!r}"
        f"+({ljc!r})));"
        f"lj=4*{EPSILON_KJ!r}*((({SIGMA_NM!r}/r)^6)^2-({SIGMA_NM!r}/r)^6);"
        "lam=lamtab(type1, type2)"
    )
    force = openmm.CustomNonbondedForce(expr)
    force.addPerParticleParameter("type")
    lam = np.asarray(params.attraction, dtype=float)
    # Discrete2DFunction is indexed [x + xsize*y]; the matrix is symmetric
    force.addTabulatedFunction("lamtab", openmm.Discrete2DFunction(4, 4, lam.T.ravel().tolist()))
    force.setNonbondedMethod(openmm.CustomNonbondedForce.CutoffNonPeriodic)
    force.setCutoffDistance(rc)
    force.setUseLongRangeCorrection(False)
    force.setName("PolymerPairForce")
    return force


def build_polymer_system(comps: Sequence[Composition], params: PolymerParameters | None = None
                         ) -> tuple[Any, Any, list[tuple[int, int]]]:
    """One ``openmm.System`` holding every chain (no coordinates).

    Returns ``(system, topology, ranges)``; ``ranges[c] = (start, stop)`` particle indices.
    """
    import openmm

    params = params or PolymerParameters()
    system = openmm.System()
    nb = _nonbonded_force(params)
    bonds = openmm.HarmonicBondForce()
    bonds.setName("PolymerBondForce")
    k_kj = params.bond_k * EPSILON_KJ / SIGMA_NM**2
    r0 = params.bond_r0 * SIGMA_NM
    ranges: list[tuple[int, int]] = []
    all_bonds: list[tuple[int, int]] = []
    for comp in comps:
        start = system.getNumParticles()
        for t in particle_types(comp):
            system.addParticle(MASS_AMU)
            nb.addParticle([float(t)])
        for i, j in chain_bonds(comp.length):
            bonds.addBond(start + int(i), start + int(j), r0, k_kj)
            all_bonds.append((start + int(i), start + int(j)))
        ranges.append((start, system.getNumParticles()))
    nb.createExclusionsFromBonds(all_bonds, 1)
    system.addForce(bonds)
    system.addForce(nb)
    return system, chain_topology(comps), ranges


# ----------------------------------------------------------------- chain separation
class ChainGrid:
    """Keeps non-interacting chains on separate sites of a cubic grid (nm).

    ``offsets[c]`` is what is added to the simulated positions of chain ``c`` to get its
    continuous (stored) coordinates.
    """

    def __init__(self, ranges: list[tuple[int, int]], cutoff_nm: float,
                 margin_nm: float = 5 * SIGMA_NM) -> None:
        self.ranges = ranges
        self.cutoff = cutoff_nm
        self.margin = margin_nm
        self.spacing = 0.0
        self.offsets = np.zeros((len(ranges), 3))
        self.violations = 0
        self.index = np.concatenate([np.full(b - a, c) for c, (a, b) in enumerate(ranges)])
        self.starts = np.array([a for a, _ in ranges])
        self.counts = np.array([b - a for a, b in ranges])

    def sites(self) -> np.ndarray:
        n = len(self.ranges)
        side = math.ceil(n ** (1 / 3) - 1e-9)
        g = np.stack(np.unravel_index(np.arange(n), (side, side, side)), 1).astype(float)
        return (g - (side - 1) / 2.0) * self.spacing

    def _com_and_radius(self, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        com = np.add.reduceat(pos, self.starts, axis=0) / self.counts[:, None]
        r = np.linalg.norm(pos - com[self.index], axis=1)
        rmax = np.maximum.reduceat(r, self.starts)
        return com, rmax

    def check(self, pos: np.ndarray) -> int:
        """Count chain pairs whose bounding spheres come within the cutoff (should be 0)."""
        com, rmax = self._com_and_radius(pos)
        if len(com) < 2:
            return 0
        d = np.linalg.norm(com[:, None] - com[None], axis=-1)
        gap = d - rmax[:, None] - rmax[None] - self.cutoff
        np.fill_diagonal(gap, np.inf)
        bad = int(np.sum(gap < 0) // 2)
        self.violations += bad
        return bad

    def recentre(self, pos: np.ndarray) -> np.ndarray:
        """Translate each chain rigidly back to its site (enlarging the grid if needed);
        update ``offsets``; return the new simulated positions."""
        com, rmax = self._com_and_radius(pos)
        need = 2.0 * float(rmax.max()) + self.cutoff + self.margin
        if need > self.spacing:
            self.spacing = max(need, 1.25 * self.spacing)
        shift = self.sites() - com
        self.offsets -= shift
        return pos + shift[self.index]


# ----------------------------------------------------------------------- generation
@dataclass
class PolymerRunResult:
    out_dir: Path
    files: list[Path]
    frames: int
    new_frames: int
    platform: str
    wall_s: float
    steps_per_s: float
    particle_steps_per_s: float
    tau_per_day: float
    num_particles: int
    separation_violations: int


def _pdb_text(topology: Any, positions_nm: np.ndarray) -> str:
    from openmm import app, unit

    buf = io.StringIO()
    app.PDBFile.writeFile(topology, positions_nm * unit.nanometer, buf, keepIds=True)
    return buf.getvalue()


def _check_splits(comps: list[Composition]) -> None:
    for c in comps:
        in_train = _in_train_class(c.f_s1, c.pattern)
        if c.split == "test" and in_train:
            raise AssertionError(f"{c.name}: test chain in the training class")
        if c.split in ("train", "val") and not in_train:
            raise AssertionError(f"{c.name}: training chain outside the training class")


def generate_polymer_dataset(
    out_dir: str | os.PathLike,
    n_chains: int = 200,
    *,
    split_seed: int = 0,
    seed: int = 0,
    production_tau: float = 10_000.0,
    stride_tau: float = 5.0,
    equilibration_tau: float = 1_000.0,
    params: PolymerParameters | None = None,
    atoms_per_bead: int = 4,
    save_atoms: bool = False,
    platform: str | None = None,
    precision: str = "mixed",
    deterministic: bool = False,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    min_length: int = 20,
    max_length: int = 100,
    overwrite: bool = False,
    progress: bool = True,
    checkpoint_interval_s: float = 300.0,
    max_block_frames: int = 200,
    max_wall_s: float | None = None,
    callback: Callable[[int], None] | None = None,
    only: str | None = None,
    copies: int = 1,
) -> PolymerRunResult:
    """Simulate a polymer set: all chains in one System, one HDF5 file per chain.

    Writes ``out_dir/<name>.h5`` (bead positions from ``coarse_grain(..., scheme="graph",
    atoms_per_bead=atoms_per_bead)``, optional particle positions), ``out_dir/splits.json``
    and a checkpoint ``out_dir/polymer_set.chk``. Re-running with the same arguments
    resumes an interrupted run; with a larger ``production_tau`` it appends frames.
    Times in tau (see module doc for nm/ps); frames every ``stride_tau``.
    ``max_wall_s``: stop production cleanly (frames flushed, checkpoint written) once this
    many wall-clock seconds have passed since the call started; re-running continues.

    ``only``: simulate only the chains of that split (``"train"``, ``"val"`` or ``"test"``)
    of the ``n_chains`` compositions (same compositions, names and splits as the full set),
    e.g. longer reference runs of the test chains. ``copies``: independent runs of every
    chain in the same System (own starting conformation and noise); copy ``j > 0`` of
    ``NAME.h5`` is ``NAME_c<j>.h5`` with attribute ``name`` = NAME, so that evaluation pools
    the copies as runs of one molecule.
    """
    import openmm
    from tqdm.auto import tqdm

    t_call = _time.perf_counter()
    params = params or PolymerParameters()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    splits_path = out / "splits.json"
    chk_path = out / "polymer_set.chk"
    dt_tau = params.timestep
    spf = stride_tau / dt_tau
    if abs(spf - round(spf)) > 1e-6 * spf or round(spf) < 1:
        raise ValueError(f"stride {stride_tau} tau is not a multiple of the time step {dt_tau} tau")
    spf = int(round(spf))
    n_target_f = production_tau / stride_tau
    if abs(n_target_f - round(n_target_f)) > 1e-6 * max(1.0, n_target_f):
        raise ValueError(f"production {production_tau} tau is not a multiple of the stride "
                         f"{stride_tau} tau")
    n_target = int(round(n_target_f))
    n_eq = int(round(equilibration_tau / dt_tau))
    plat, props = select_platform(platform, precision, deterministic)
    identity = {
        "n_chains": n_chains, "split_seed": split_seed, "seed": seed,
        "stride_tau": stride_tau, "equilibration_tau": equilibration_tau,
        "params": dataclasses.asdict(params), "atoms_per_bead": atoms_per_bead,
        "save_atoms": save_atoms, "val_fraction": val_fraction,
        "test_fraction": test_fraction, "min_length": min_length, "max_length": max_length,
    }
    if only is not None and only not in ("train", "val", "test"):
        raise ValueError(f"only (--only) must be train, val or test; got {only!r}")
    if int(copies) != copies or copies < 1:
        raise ValueError(f"copies (--copies) must be an integer >= 1; got {copies}")
    copies = int(copies)
    if only is not None:  # in the identity only when used: older sets still resume
        identity["only"] = only
    if copies > 1:
        identity["copies"] = copies
    identity = json.loads(json.dumps(identity))

    comps_all = generate_compositions(n_chains, split_seed, val_fraction, test_fraction,
                                      min_length, max_length)
    _check_splits(comps_all)
    chosen = [c for c in comps_all if only is None or c.split == only]
    if not chosen:
        raise ValueError(f"no {only} chains among the {n_chains} compositions "
                         "(--chains / --val-fraction / --test-fraction)")
    # one simulated chain per (composition, copy); the System holds them all
    comps = [c for c in chosen for _ in range(copies)]
    copy_index = [j for _ in chosen for j in range(copies)]
    files = [out / (f"{c.name}.h5" if j == 0 else f"{c.name}_c{j}.h5")
             for c, j in zip(comps, copy_index, strict=True)]
    resume = (not overwrite) and chk_path.exists()
    if not overwrite and not resume and any(f.exists() for f in files):
        raise ValueError(f"{out} already holds polymer files but no checkpoint "
                         f"{chk_path.name}; pass overwrite (--overwrite) or another directory")

    integrator = openmm.LangevinMiddleIntegrator(
        params.temperature_K, params.friction / TAU_PS, params.timestep_ps)
    integrator.setRandomNumberSeed(openmm_seed(seed))
    mappings: list[Any] = []
    if resume:
        chk = load_checkpoint(chk_path)
        meta = chk["meta"]
        if meta.get("identity") != identity:
            old = meta.get("identity", {})
            diff = sorted(k for k in set(old) | set(identity) if old.get(k) != identity.get(k))
            raise ValueError(f"{out} was generated with different settings ({', '.join(diff)}); "
                             "use the same settings to resume/extend, or overwrite")
        system, _, ranges = build_polymer_system(comps, params)  # deterministic rebuild
        system_hash = _system_sha256(system)
        if meta.get("system_sha256") != system_hash:
            raise ValueError(f"{out}: the rebuilt System differs from the one of the "
                             "checkpoint (openmm-cgml/OpenMM version changed?); regenerate "
                             "with overwrite")
        context = openmm.Context(system, integrator, plat, props)
        how = restore_context(context, chk)
        if how == "state":
            print(f"note: checkpoint from another platform; resumed from saved positions and "
                  f"velocities on {plat.getName()} (random stream differs)")
        grid = ChainGrid(ranges, params.cutoff_sigma * SIGMA_NM)
        grid.spacing = float(meta["spacing"])
        grid.offsets = np.asarray(meta["offsets"], dtype=float)
        grid.violations = int(meta.get("violations", 0))
        frames_done = int(meta["frames"])
        from openmm_cgml.mapping import BeadMapping

        for f in files:
            n_file = storage.count_frames(f)
            if n_file < frames_done:
                raise ValueError(f"{f} holds {n_file} frames, its checkpoint {frames_done}: "
                                 "files were modified; regenerate with overwrite")
            if n_file > frames_done:
                storage.truncate_frames(f, frames_done)
            with storage.TrajectoryFile(f) as tf:
                mappings.append(BeadMapping.from_dict(tf.mapping_dict))
    else:
        if chk_path.exists():
            chk_path.unlink()
        system, topology, ranges = build_polymer_system(comps, params)
        rng = np.random.default_rng(openmm_seed(seed, salt=2))
        local = [initial_conformation(c, rng) * SIGMA_NM for c in comps]
        pos = np.concatenate(local)
        grid = ChainGrid(ranges, params.cutoff_sigma * SIGMA_NM)
        # build positions: start with conformations at their sites; offsets undo the sites
        pos = grid.recentre(pos)  # chains (built around the origin) to their grid sites
        context = openmm.Context(system, integrator, plat, props)
        context.setPositions(pos)
        openmm.LocalEnergyMinimizer.minimize(context, 10.0, 2000)  # kJ/mol/nm
        context.setVelocitiesToTemperature(params.temperature_K, openmm_seed(seed, salt=3))
        done = 0
        chunk = max(1, min(spf, 1000))
        with tqdm(total=n_eq, desc="polymers: equilibrate", unit="step",
                  disable=not progress or n_eq == 0, leave=False) as bar:
            while done < n_eq:
                k = min(chunk, n_eq - done)
                integrator.step(k)
                done += k
                bar.update(k)
                p = _positions(context)
                grid.check(p)
                context.setPositions(grid.recentre(p))
        context.setTime(0.0)
        context.setStepCount(0)
        p = _positions(context)
        splits_doc = {
            **{sp: [f.name for c, f in zip(comps, files, strict=True) if c.split == sp]
               for sp in ("train", "val", "test")},
            "seed": seed, "split_seed": split_seed,
            "compositions": {f.name: c.to_dict() for c, f in zip(comps, files, strict=True)},
            "only": only, "copies": copies,
            "classes": {"train": {"patterns": list(TRAIN_PATTERNS), "f_S1": TRAIN_F_RANGE},
                        "test": {"patterns": ["blocky", *TRAIN_PATTERNS],
                                 "f_S1_outside": TEST_F_RANGES,
                                 "rule": "blocky pattern and/or f_S1 outside the training range"}},
            "units": units_description(),
            "parameters": dataclasses.asdict(params),
            "type_names": list(TYPE_NAMES),
        }
        atomic_write(splits_path, json.dumps(splits_doc, indent=1))
        masses_all = np.full(system.getNumParticles(), MASS_AMU)
        from openmm_cgml.reference.allatom import make_mapping

        for ci, (c, (a, b), f) in enumerate(zip(comps, ranges, files, strict=True)):
            top_c = chain_topology([c])
            x = p[a:b] + grid.offsets[ci]
            mapping = make_mapping(top_c, x, "graph", atoms_per_bead, masses_all[a:b])
            mappings.append(mapping)
            attrs = {
                "kind": "polymer", "name": c.name,
                "temperature_K": params.temperature_K,
                "stride_ps": stride_tau * TAU_PS,
                "fine_timestep_ps": params.timestep_ps,
                "seed": seed, "forcefield": FORCEFIELD_NAME,
                "composition": c.to_dict(),
                "reduced_units": units_description(),
                "simulation": {**identity, "steps_per_frame": spf,
                               "integrator": "LangevinMiddleIntegrator",
                               "friction_per_ps": params.friction / TAU_PS},
                "stride_tau": stride_tau,
            }
            if copies > 1:
                attrs["copy"] = copy_index[ci]
            storage.create_trajectory(f, mapping=mapping, atom_topology_pdb=_pdb_text(top_c, x),
                                      attrs=attrs, save_atoms=save_atoms)
        system_hash = _system_sha256(system)
        frames_done = 0

    def meta_now() -> dict[str, Any]:
        return {"identity": identity, "frames": frames_done, "spacing": grid.spacing,
                "system_sha256": system_hash,
                "offsets": grid.offsets.tolist(), "violations": grid.violations,
                "platform": plat.getName()}

    save_checkpoint(chk_path, context, meta_now())
    n_particles = system.getNumParticles()
    new = 0
    t0 = _time.perf_counter()
    with tqdm(total=n_target, initial=frames_done, desc=f"polymers ({len(comps)} chains)",
              unit="frame", disable=not progress) as bar:
        while frames_done < n_target and not budget_spent(t_call, max_wall_s):
            block: list[np.ndarray] = []
            t_block = _time.perf_counter()
            while (frames_done + len(block) < n_target and len(block) < max_block_frames
                   and (not block or _time.perf_counter() - t_block < checkpoint_interval_s)
                   and not (block and budget_spent(t_call, max_wall_s))):
                integrator.step(spf)
                p = _positions(context)
                grid.check(p)
                block.append(p + grid.offsets[grid.index])  # continuous coordinates
                context.setPositions(grid.recentre(p))
                bar.update(1)
            frames = np.stack(block)
            times = (frames_done + 1 + np.arange(len(block))) * stride_tau * TAU_PS
            for (a, b), f, mapping in zip(ranges, files, mappings, strict=True):
                x = frames[:, a:b]
                storage.append_frames(f, mapping.bead_positions(x), times,
                                      x if save_atoms else None)
            frames_done += len(block)
            new += len(block)
            save_checkpoint(chk_path, context, meta_now())
            el = _time.perf_counter() - t0
            sps = new * spf / max(el, 1e-9)
            bar.set_postfix(steps_s=f"{sps:.0f}", pstep_s=f"{sps * n_particles:.2e}")
            if callback is not None:
                callback(frames_done)
    wall = _time.perf_counter() - t0
    sps = new * spf / wall if new and wall > 0 else math.nan
    if grid.violations:
        warnings.warn(f"{grid.violations} frame/chain pairs came within the cutoff of each "
                      "other (bounding-sphere test); the affected frames may include "
                      "inter-chain forces", RuntimeWarning, stacklevel=2)
    return PolymerRunResult(
        out_dir=out, files=files, frames=frames_done, new_frames=new, platform=plat.getName(),
        wall_s=wall, steps_per_s=sps, particle_steps_per_s=sps * n_particles,
        tau_per_day=sps * dt_tau * 86400.0, num_particles=n_particles,
        separation_violations=grid.violations)


def _positions(context: Any) -> np.ndarray:
    from openmm import unit

    return np.asarray(context.getState(getPositions=True).getPositions(asNumpy=True)
                      .value_in_unit(unit.nanometer))


def kinetic_temperature(velocities_nm_ps: np.ndarray, masses_amu: np.ndarray) -> float:
    """Instantaneous kinetic temperature (K) of unconstrained particles: 2 KE / (3 N k_B)."""
    v = np.asarray(velocities_nm_ps, dtype=float)
    ke = 0.5 * float(np.sum(np.asarray(masses_amu)[:, None] * v**2))  # kJ/mol
    return 2.0 * ke / (3 * len(v) * MOLAR_GAS_CONSTANT_KJ)


def summarize_polymer_set(out_dir: str | os.PathLike, min_relaxations: float = 100.0,
                          write: bool = True) -> dict[str, Any]:
    """Per-chain structure and relaxation of a generated set (``out_dir/summary.json``).

    For every chain in ``splits.json``: mean and std of the bead radius of gyration
    (mass-weighted, sigma), the integrated autocorrelation time of Rg^2 (tau units,
    Sokal window; ``openmm_cgml.analysis``) with its standard error, and the run length
    in relaxation times (copies of a chain pooled: one ACF, total length; also per copy,
    which sets the estimator's bias, about -1/that); chains
    shorter than ``min_relaxations`` relaxation times are listed under ``too_short``
    (POLYMER_BENCHMARK.md asks for >= 100).
    """
    import warnings as _w

    from openmm_cgml.analysis import estimate_relaxation_time, radius_of_gyration

    out = Path(out_dir)
    splits_path = out / "splits.json"
    if not splits_path.is_file():
        raise FileNotFoundError(f"{splits_path} not found: generate the set first")
    splits = json.loads(splits_path.read_text())
    # copies of one chain (NAME.h5, NAME_c1.h5, ...) are pooled: one entry per composition
    groups: dict[str, list[str]] = {}
    for fname, comp in splits["compositions"].items():
        groups.setdefault(comp["name"], []).append(fname)
    chains: dict[str, Any] = {}
    for fnames in groups.values():
        comp = splits["compositions"][fnames[0]]
        rgs = []
        for fname in fnames:
            with storage.TrajectoryFile(out / fname) as tf:
                if len(tf) < 4:
                    raise ValueError(f"{out / fname}: only {len(tf)} frames; too short to "
                                     "analyse")
                x = tf.bead_positions[:]
                masses = np.asarray(tf.mapping_dict["atom_masses"])
                a2b = np.asarray(tf.mapping_dict["atom_to_bead"])
                stride_tau = float(tf.attrs["stride_ps"]) / TAU_PS
            bead_m = np.bincount(a2b, weights=masses)
            rgs.append(np.asarray(radius_of_gyration(x, bead_m)) / SIGMA_NM)
        n = min(len(r) for r in rgs)  # copies share one ACF (equal lengths)
        series = np.stack([r[:n] ** 2 for r in rgs])
        with _w.catch_warnings():
            _w.simplefilter("ignore", RuntimeWarning)
            # converged = the window rule was met; the length test is on the pooled
            # length below (copies: their total, not each copy's, sets the variance)
            est = estimate_relaxation_time(series if len(rgs) > 1 else series[0],
                                           dt=stride_tau, min_length=0.0)
        rg = np.concatenate(rgs)
        length = len(rg) * stride_tau
        key = fnames[0]  # NAME.h5, the chain's first (or only) run
        chains[key] = {
            "split": comp["split"], "L": comp["L"], "f_S1": comp["f_S1"],
            "pattern": comp["pattern"], "rg_mean_sigma": float(rg.mean()),
            "rg_std_sigma": float(rg.std()), "rg2_relaxation_tau": est.tau,
            "rg2_relaxation_stderr_tau": est.stderr,
            "relaxation_window_converged": bool(est.converged),
            "copies": len(fnames), "run_length_tau": length,
            "run_length_in_relaxations": length / est.tau,
            # per copy: the (biased, global-mean) ACF estimator underestimates tau by about
            # 1 / this, e.g. 2 % at 50 relaxation times per copy
            "copy_length_in_relaxations": n * stride_tau / est.tau,
        }
        if len(fnames) > 1:
            chains[key]["rg_copy_means_sigma"] = [float(r.mean()) for r in rgs]
    too_short = sorted(n for n, c in chains.items()
                       if not c["run_length_in_relaxations"] >= min_relaxations
                       or not c["relaxation_window_converged"])
    doc = {"chains": chains, "min_relaxations": min_relaxations, "too_short": too_short,
           "min_run_length_in_relaxations": min(c["run_length_in_relaxations"]
                                                for c in chains.values()),
           "units": {"rg": "sigma (0.5 nm)", "time": "tau (3.166 ps)"}}
    if write:
        atomic_write(out / "summary.json", json.dumps(doc, indent=1))
    return doc
