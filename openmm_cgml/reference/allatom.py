"""All-atom reference MD with OpenMM, written at the coarse-grained stride.

Default protocol (:class:`MDSettings`): amber14 (``amber14-all.xml``) with implicit solvent
``implicit/gbn2.xml`` (no cutoff), or explicit TIP3P water with PME (``solvent="explicit"``,
1 nm padding, 0.15 M NaCl, 1 nm cutoff, periodic box); HBonds constraints, hydrogen mass
repartitioning (hydrogens 1.5 amu), 4 fs LangevinMiddleIntegrator at 300 K with
1/ps friction; energy minimisation, equilibration, production. Every ``stride_ps`` of
production the solute positions are mapped to beads (``openmm_cgml.mapping``) and stored
(optionally with the all-atom solute positions) in the HDF5 format of
:mod:`openmm_cgml.reference.storage`.

Resume/append: a checkpoint ``<file>.chk`` beside the trajectory holds the OpenMM
checkpoint (exact: positions, velocities, random-number state), a portable State XML
(used when the checkpoint was made on another platform), the System XML and the full
topology. It is written after every block of frames, only after the frames themselves,
so the trajectory always holds at least the checkpointed frames; on resume any extra
frames are cut and the run goes on from the checkpoint, with no gap and no duplicate.
Calling :func:`run_reference` again with a longer ``production_ps`` appends frames.

Units: nm, ps, K, kJ/mol, amu. Seeds: same seed and platform -> same trajectory
(bitwise on the Reference platform; CPU/CUDA sum forces in a thread-dependent order).
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import time as _time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from openmm_cgml.reference import storage
from openmm_cgml.utils import atomic_path

PLATFORM_ORDER = ("CUDA", "CPU", "Reference")
_SOLVENTS = ("implicit", "explicit")


def select_platform(name: str | None = None, precision: str = "mixed",
                    deterministic: bool = False) -> tuple[Any, dict[str, str]]:
    """Pick an OpenMM platform: by ``name``, or the first available of CUDA > CPU > Reference.

    Returns ``(platform, properties)``; CUDA/OpenCL/HIP get ``Precision=precision``.
    ``deterministic``: the CPU platform runs on one thread, and one seed then gives one
    trajectory, bit for bit (with several threads its results vary from run to run: measured
    on OpenMM 8.6.1); Reference always does. GPU platforms get ``DeterministicForces=true``,
    which covers the force sums only: on CUDA two identical runs of one seed still differ
    (35,680-particle polymer set, 300 tau: up to 4.96 nm apart on an H100;
    ``benchmarks/results/h100_2026-12-05d/``), as OpenMM allows (``setRandomNumberSeed``
    promises no identical runs). Without it, runs of one seed differ in the last bits and
    chaotic dynamics turn that into different (statistically equivalent) trajectories.
    """
    import openmm

    available = [openmm.Platform.getPlatform(i).getName()
                 for i in range(openmm.Platform.getNumPlatforms())]
    if name in (None, "", "auto"):
        chosen = next((p for p in PLATFORM_ORDER if p in available), available[0])
        if chosen == "CUDA":  # a CUDA plugin can load without a usable GPU: try it
            try:
                ctx_sys = openmm.System()
                ctx_sys.addParticle(1.0)
                openmm.Context(ctx_sys, openmm.VerletIntegrator(0.001),
                               openmm.Platform.getPlatformByName("CUDA"))
            except Exception:  # noqa: BLE001 - any failure means "no usable CUDA"
                chosen = next(p for p in PLATFORM_ORDER[1:] if p in available)
    else:
        match = {p.lower(): p for p in available}.get(str(name).lower())
        if match is None:
            raise ValueError(f"OpenMM platform {name!r} is not available here; available: "
                             f"{', '.join(available)} (or 'auto')")
        chosen = match
    plat = openmm.Platform.getPlatformByName(chosen)
    props = {"Precision": precision} if chosen in ("CUDA", "OpenCL", "HIP") else {}
    if deterministic and "DeterministicForces" in plat.getPropertyNames():
        props["DeterministicForces"] = "true"
    if deterministic and chosen == "CPU":
        props["Threads"] = "1"
    return plat, props


def openmm_seed(seed: int, salt: int = 0) -> int:
    """A non-zero 31-bit seed for OpenMM from a user seed (OpenMM treats 0 as 'random')."""
    return int((int(seed) * 1_000_003 + salt * 7919) % (2**31 - 2)) + 1


@dataclass
class MDSettings:
    """Settings of an all-atom reference run (units in the names)."""

    temperature_K: float = 300.0
    timestep_fs: float = 4.0
    friction_per_ps: float = 1.0
    solvent: str = "implicit"
    forcefield: list[str] | None = None  # default: by solvent
    hydrogen_mass_amu: float = 1.5
    padding_nm: float = 1.0
    ionic_strength_molar: float = 0.15
    cutoff_nm: float = 1.0
    equilibration_ps: float = 100.0
    stride_ps: float = 10.0
    production_ps: float = 1000.0
    seed: int = 0
    save_atoms: bool = False
    mapping_scheme: str = "residue"
    atoms_per_bead: int | None = None
    precision: str = "mixed"
    deterministic: bool = False
    minimize: bool = True

    def __post_init__(self) -> None:
        if self.solvent not in _SOLVENTS:
            raise ValueError(f"solvent must be one of {_SOLVENTS}, got {self.solvent!r}")
        if self.forcefield is None:
            self.forcefield = (["amber14-all.xml", "implicit/gbn2.xml"]
                               if self.solvent == "implicit"
                               else ["amber14-all.xml", "amber14/tip3p.xml"])
        for key in ("temperature_K", "timestep_fs", "stride_ps", "friction_per_ps"):
            if getattr(self, key) <= 0:
                raise ValueError(f"{key} must be > 0, got {getattr(self, key)}")
        if self.production_ps < 0 or self.equilibration_ps < 0:
            raise ValueError("production_ps and equilibration_ps must be >= 0")
        self.steps_per_frame()
        self.n_frames()

    @property
    def timestep_ps(self) -> float:
        return self.timestep_fs / 1000.0

    def steps_per_frame(self) -> int:
        n = self.stride_ps / self.timestep_ps
        if abs(n - round(n)) > 1e-6 * n or round(n) < 1:
            raise ValueError(f"stride {self.stride_ps} ps is not a multiple of the time step "
                             f"{self.timestep_fs} fs")
        return int(round(n))

    def n_frames(self) -> int:
        n = self.production_ps / self.stride_ps
        if abs(n - round(n)) > 1e-6 * max(n, 1):
            raise ValueError(f"production time {self.production_ps} ps is not a multiple of "
                             f"the stride {self.stride_ps} ps")
        return int(round(n))

    def equilibration_steps(self) -> int:
        return int(round(self.equilibration_ps / self.timestep_ps))

    def identity(self) -> dict[str, Any]:
        """Fields that must match when a run is resumed or appended to."""
        d = dataclasses.asdict(self)
        for key in ("production_ps", "precision", "deterministic"):
            d.pop(key)
        return d


@dataclass
class RunResult:
    """What :func:`run_reference` did."""

    path: Path
    frames: int
    new_frames: int
    platform: str
    wall_s: float
    ns_per_day: float
    num_atoms: int
    num_beads: int
    extra: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------- set-up

def load_structure(path: str | os.PathLike) -> tuple[Any, Any]:
    """Read a PDB or PDBx/mmCIF file -> ``(topology, positions)`` (clear errors)."""
    from openmm import app

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"structure file not found: {p}")
    try:
        if p.suffix.lower() in (".cif", ".pdbx", ".mmcif"):
            f = app.PDBxFile(str(p))
        else:
            f = app.PDBFile(str(p))
    except Exception as exc:  # noqa: BLE001 - parser errors are not uniform
        raise ValueError(f"{p}: cannot be read as PDB/PDBx ({exc})") from exc
    if f.topology.getNumAtoms() == 0:
        raise ValueError(f"{p}: contains no atoms")
    return f.topology, f.positions


def is_solvent_residue(residue: Any) -> bool:
    """Water or an ion (names as in ``openmm_cgml.mapping.features``, any case)."""
    from openmm_cgml.mapping.features import is_ion, is_water

    return is_water(residue.name) or is_ion(residue.name, len(list(residue.atoms())))


def _solute_indices(topology: Any) -> np.ndarray:
    return np.array([a.index for r in topology.residues() if not is_solvent_residue(r)
                     for a in r.atoms()], dtype=np.int64)


def _subset_topology(topology: Any, positions_nm: np.ndarray, keep: np.ndarray
                     ) -> tuple[Any, np.ndarray]:
    from openmm import app, unit

    modeller = app.Modeller(topology, positions_nm * unit.nanometer)
    keep_set = set(int(i) for i in keep)
    drop = [a for a in modeller.topology.atoms() if a.index not in keep_set]
    if drop:
        modeller.delete(drop)
    pos = np.array(modeller.positions.value_in_unit(unit.nanometer))
    return modeller.topology, pos


def _pdb_text(topology: Any, positions_nm: np.ndarray) -> str:
    from openmm import app, unit

    buf = io.StringIO()
    app.PDBFile.writeFile(topology, positions_nm * unit.nanometer, buf, keepIds=True)
    return buf.getvalue()


def make_mapping(topology: Any, positions_nm: np.ndarray, scheme: str,
                 atoms_per_bead: float | None = None, masses: np.ndarray | None = None,
                 seed: int = 0) -> Any:
    """Build the bead mapping through ``openmm_cgml.mapping.coarse_grain``.

    The structure is taken as it is (``clean=False``, ``keep="all"``: the simulated atoms
    *are* the mapped atoms, in the same order), which is checked.
    """
    from openmm import unit

    from openmm_cgml.mapping import coarse_grain

    kwargs: dict[str, Any] = {"scheme": scheme, "clean": False, "keep": "all", "seed": seed}
    if atoms_per_bead is not None:
        kwargs["atoms_per_bead"] = atoms_per_bead
    if masses is not None:
        kwargs["masses"] = masses
    mapping = coarse_grain((topology, positions_nm * unit.nanometer), **kwargs)
    n = topology.getNumAtoms()
    src = getattr(mapping, "source_atoms", None)
    if mapping.num_atoms != n or (src is not None and not np.array_equal(src, np.arange(n))):
        raise RuntimeError(f"the mapping changed the atoms ({mapping.num_atoms} mapped, {n} "
                           "simulated); expected the same atoms in the same order")
    return mapping


# ------------------------------------------------------------------------ checkpoints

def checkpoint_path(traj_path: str | os.PathLike) -> Path:
    """The checkpoint file kept beside a trajectory: ``<file>.chk``."""
    p = Path(traj_path)
    return p.with_name(p.name + ".chk")


def save_checkpoint(path: str | os.PathLike, context: Any, meta: dict[str, Any],
                    system_xml: str | None = None, topology_pdb: str | None = None) -> None:
    """Write ``path`` atomically (npz): OpenMM checkpoint + portable state + metadata."""
    import openmm

    chk = context.createCheckpoint()
    state = context.getState(getPositions=True, getVelocities=True, getParameters=True,
                             getIntegratorParameters=True)
    arrays: dict[str, np.ndarray] = {
        "checkpoint": np.frombuffer(chk, dtype=np.uint8),
        "state_xml": np.array(openmm.XmlSerializer.serialize(state)),
        "meta": np.array(json.dumps(meta)),
    }
    if system_xml is not None:
        arrays["system_xml"] = np.array(system_xml)
    if topology_pdb is not None:
        arrays["topology_pdb"] = np.array(topology_pdb)
    with storage.deferred_signals(), atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (a dict of its entries)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            out: dict[str, Any] = {"checkpoint": z["checkpoint"].tobytes()}
            for key in ("state_xml", "system_xml", "topology_pdb"):
                if key in z:
                    out[key] = str(z[key][()])
            out["meta"] = json.loads(str(z["meta"][()]))
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"{path}: unreadable checkpoint ({exc}); delete it and the "
                         "trajectory, or run with overwrite") from exc
    return out


def restore_context(context: Any, chk: dict[str, Any]) -> str:
    """Load a checkpoint into ``context``; fall back to the portable State (another
    platform) -- returns ``"exact"`` or ``"state"``."""
    import openmm

    try:
        context.loadCheckpoint(chk["checkpoint"])
        return "exact"
    except Exception:  # noqa: BLE001 - OpenMM raises a generic exception
        state = openmm.XmlSerializer.deserialize(chk["state_xml"])
        context.setState(state)
        return "state"


# ------------------------------------------------------------------------------- run

def budget_spent(t_start: float, max_wall_s: float | None) -> bool:
    """True once ``max_wall_s`` wall-clock seconds have passed since ``t_start``."""
    return max_wall_s is not None and _time.perf_counter() - t_start >= max_wall_s


# Several molecules in one System (implicit solvent): each sits on a cubic grid and is held
# near its grid point by a flat-bottom restraint on its centre of mass. The restraint force is
# spread over the atoms in proportion to their masses (a uniform acceleration), so it moves
# the molecule as a whole and leaves its internal motion exactly as in a run of its own.
SET_RESTRAINT_FREE_NM = 1.0      # the centre of mass moves freely within this radius
SET_RESTRAINT_K = 100.0          # kJ/mol/nm^2 beyond it
SET_GAP_NM = 4.0                 # extra space between two molecules' reach


@dataclass
class _Member:
    """One molecule of a run: its atoms in the simulated System and its output file."""

    out: Path
    name: str
    atoms: np.ndarray           # [n] indices into the System
    offset_nm: np.ndarray       # [3] grid shift, subtracted before the frames are stored
    mapping: Any = None


def _prepared_modeller(topology: Any, positions: Any, settings: MDSettings, ff: Any) -> Any:
    """Modeller with water/ions stripped and hydrogens added (not yet solvated)."""
    from openmm import app

    modeller = app.Modeller(topology, positions)
    strip = [r for r in modeller.topology.residues() if is_solvent_residue(r)]
    if strip:
        modeller.delete(strip)
    if modeller.topology.getNumAtoms() == 0:
        raise ValueError("the structure contains only water/ions; nothing to simulate")
    try:
        modeller.addHydrogens(ff, pH=7.0)
    except ValueError as exc:
        raise ValueError(f"cannot add hydrogens with {settings.forcefield}: {exc}. "
                         "Clean the structure first (e.g. pdbfixer)") from exc
    return modeller


def _create_system(ff: Any, topology: Any, settings: MDSettings, **kwargs: Any) -> Any:
    from openmm import app, unit

    try:
        return ff.createSystem(topology, constraints=app.HBonds,
                               hydrogenMass=settings.hydrogen_mass_amu * unit.amu, **kwargs)
    except ValueError as exc:
        raise ValueError(f"force field {settings.forcefield} cannot parametrise the "
                         f"structure: {exc}") from exc


def prepare_system(topology: Any, positions: Any, settings: MDSettings
                   ) -> tuple[Any, Any, Any]:
    """Strip water/ions, add missing hydrogens, (explicit) solvate; build the System.

    Returns ``(system, topology, positions)`` of the full simulated system.
    """
    import openmm
    from openmm import app, unit

    ff = app.ForceField(*settings.forcefield)
    modeller = _prepared_modeller(topology, positions, settings, ff)
    if settings.solvent == "explicit":
        xyz = np.array(modeller.positions.value_in_unit(unit.nanometer))
        extent = float(np.ptp(xyz, axis=0).max()) + 2.0 * settings.padding_nm
        min_box = 2.0 * settings.cutoff_nm * 1.05  # PME: cutoff <= half the box
        solvent_kw: dict[str, Any] = (
            {"padding": settings.padding_nm * unit.nanometer} if extent >= min_box
            else {"boxSize": openmm.Vec3(min_box, min_box, min_box) * unit.nanometer})
        modeller.addSolvent(ff, model="tip3p",
                            ionicStrength=settings.ionic_strength_molar * unit.molar,
                            **solvent_kw)
        kwargs = {"nonbondedMethod": app.PME,
                  "nonbondedCutoff": settings.cutoff_nm * unit.nanometer}
    else:
        kwargs = {"nonbondedMethod": app.NoCutoff}
    system = _create_system(ff, modeller.topology, settings, **kwargs)
    return system, modeller.topology, modeller.positions


def prepare_set(structures: Sequence[tuple[Any, Any]], settings: MDSettings
                ) -> tuple[Any, Any, Any, list[np.ndarray], np.ndarray]:
    """Several molecules in one implicit-solvent System, far apart on a cubic grid.

    Each molecule is centred on its grid point and held there by a flat-bottom restraint on
    its centre of mass (free within ``SET_RESTRAINT_FREE_NM``); grid spacing = 2 x (largest
    molecule radius + 1 nm) + 2 x the free radius + ``SET_GAP_NM``. Returns ``(system, topology,
    positions, atoms, offsets_nm)``: ``atoms[i]`` are molecule i's atom indices, ``offsets_nm``
    [n, 3] its grid point (nm).
    """
    from openmm import app, unit

    if settings.solvent != "implicit":
        raise ValueError("several molecules in one System need implicit solvent; run "
                         "explicit-solvent molecules one at a time (no --copies/--together)")
    ff = app.ForceField(*settings.forcefield)
    parts = []
    for topology, positions in structures:
        m = _prepared_modeller(topology, positions, settings, ff)
        xyz = np.array(m.positions.value_in_unit(unit.nanometer))
        xyz -= xyz.mean(axis=0)
        parts.append((m.topology, xyz))
    reach = max(float(np.linalg.norm(xyz, axis=1).max()) for _, xyz in parts) + 1.0
    spacing = 2.0 * reach + 2.0 * SET_RESTRAINT_FREE_NM + SET_GAP_NM
    side = math.ceil(len(parts) ** (1.0 / 3.0) - 1e-9)
    grid = np.array([(i, j, k) for i in range(side) for j in range(side)
                     for k in range(side)], dtype=float)[:len(parts)] * spacing
    modeller = app.Modeller(app.Topology(), [])
    atoms, start = [], 0
    for (top, xyz), shift in zip(parts, grid, strict=True):
        modeller.add(top, (xyz + shift) * unit.nanometer)
        atoms.append(np.arange(start, start + top.getNumAtoms(), dtype=np.int64))
        start += top.getNumAtoms()
    system = _create_system(ff, modeller.topology, settings, nonbondedMethod=app.NoCutoff)
    masses = np.array([system.getParticleMass(i).value_in_unit(unit.amu)
                       for i in range(system.getNumParticles())])
    pos = np.array(modeller.positions.value_in_unit(unit.nanometer))
    restraint = com_restraint(atoms, masses, pos)
    system.addForce(restraint)
    return system, modeller.topology, modeller.positions, atoms, grid


def com_restraint(groups: Sequence[np.ndarray], masses: np.ndarray, positions_nm: np.ndarray
                  ) -> Any:
    """Flat-bottom restraint holding each group's centre of mass near where it is now.

    ``groups``: atom-index arrays; ``masses`` [N] (amu); ``positions_nm`` [N, 3] (nm). Energy
    0.5 k (d - r_free)^2 (kJ/mol) once the centre of mass is d > ``SET_RESTRAINT_FREE_NM`` from
    its start, k = ``SET_RESTRAINT_K`` kJ/mol/nm^2. The distance carries a 1e-6 nm floor: at
    d = 0 exactly the bare sqrt has a 0/0 gradient and OpenMM returns NaN forces (this killed
    8-copy villin runs on CUDA, 2026-12-02).
    """
    import openmm

    restraint = openmm.CustomCentroidBondForce(
        1, "0.5*k_com*step(d-r_free)*(d-r_free)^2; "
           "d=sqrt((x1-cx)^2+(y1-cy)^2+(z1-cz)^2+1e-12)")
    restraint.addGlobalParameter("k_com", SET_RESTRAINT_K)
    restraint.addGlobalParameter("r_free", SET_RESTRAINT_FREE_NM)
    for name in ("cx", "cy", "cz"):
        restraint.addPerBondParameter(name)
    for idx in groups:  # groups weighted by mass: the restraint acts on the centre of mass
        g = restraint.addGroup([int(i) for i in idx])
        com = (masses[idx, None] * positions_nm[idx]).sum(axis=0) / masses[idx].sum()
        restraint.addBond([g], [float(c) for c in com])
    return restraint


def _new_context(system: Any, settings: MDSettings, plat: Any, props: dict[str, str]
                 ) -> tuple[Any, Any]:
    import openmm

    integrator = openmm.LangevinMiddleIntegrator(
        settings.temperature_K, settings.friction_per_ps, settings.timestep_ps)
    integrator.setRandomNumberSeed(openmm_seed(settings.seed))
    return integrator, openmm.Context(system, integrator, plat, props)


def _positions_nm(context: Any) -> np.ndarray:
    from openmm import unit

    pos = context.getState(getPositions=True).getPositions(asNumpy=True)
    return np.asarray(pos.value_in_unit(unit.nanometer))


def run_reference(
    structure: str | os.PathLike | tuple[Any, Any],
    out_path: str | os.PathLike,
    settings: MDSettings | None = None,
    *,
    name: str | None = None,
    extra_attrs: dict[str, Any] | None = None,
    **kwargs: Any,
) -> RunResult:
    """Run (or resume/extend) an all-atom trajectory and store it at the CG stride.

    Args:
        structure: a PDB/PDBx path, or ``(openmm.app.Topology, positions)``.
        out_path: the ``.h5`` trajectory to write (``<out_path>.chk`` beside it).
        settings: :class:`MDSettings` (``production_ps`` is the total production length:
            if the file already holds fewer frames the run is resumed/extended).
        name: stored as the ``name`` attribute (default: the file stem).
        extra_attrs: further root attributes (e.g. ``sequence``).
        **kwargs: ``platform``, ``overwrite``, ``progress``, ``checkpoint_interval_s``,
            ``max_block_frames``, ``max_wall_s``, ``callback``: see :func:`run_reference_set`.

    Returns:
        :class:`RunResult` with the measured speed (ns/day of production).
    """
    return run_reference_set([structure], [out_path], settings,
                             names=None if name is None else [name],
                             extra_attrs=None if extra_attrs is None else [extra_attrs],
                             **kwargs)[0]


def run_reference_set(
    structures: Sequence[str | os.PathLike | tuple[Any, Any]],
    out_paths: Sequence[str | os.PathLike],
    settings: MDSettings | None = None,
    *,
    names: Sequence[str] | None = None,
    platform: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    checkpoint_interval_s: float = 300.0,
    max_block_frames: int = 1000,
    max_wall_s: float | None = None,
    extra_attrs: Sequence[dict[str, Any]] | None = None,
    callback: Callable[[int], None] | None = None,
) -> list[RunResult]:
    """Run (or resume/extend) all-atom trajectories of one or more molecules in one System.

    One molecule: exactly :func:`run_reference`. Several (implicit solvent only; see
    :func:`prepare_set`): they share one OpenMM Context, which on a GPU costs little more
    than one small molecule alone, and each is written to its own file as if simulated
    alone (its grid shift removed). The same structure given twice gives two independent
    copies (different thermal noise from the first step).

    Args:
        structures: PDB/PDBx paths or ``(openmm.app.Topology, positions)`` pairs.
        out_paths: one ``.h5`` per structure; the run's checkpoint is ``<out_paths[0]>.chk``.
        settings: :class:`MDSettings` (``production_ps``: total production length; fewer
            frames in the files -> the run is resumed/extended).
        names: stored as each file's ``name`` attribute (default: the file stems).
        platform: OpenMM platform name or None/"auto" (CUDA > CPU > Reference).
        overwrite: start afresh even if trajectories/checkpoint exist.
        progress: show a tqdm progress bar.
        checkpoint_interval_s: wall-clock seconds between flushes of frames + checkpoint.
        max_block_frames: at most this many frames per flush.
        max_wall_s: stop production cleanly (frames flushed, checkpoint written) once this
            many wall-clock seconds have passed since the call started; re-running with the
            same settings continues the run. None: no limit.
        extra_attrs: further root attributes per file (e.g. ``sequence``).
        callback: called with the number of stored frames after each flush (for tests
            and monitoring; an exception raised there stops the run like an interrupt).

    Returns:
        one :class:`RunResult` per file (ns/day of production per molecule).
    """
    import openmm
    from openmm import unit
    from tqdm.auto import tqdm

    t_call = _time.perf_counter()
    settings = settings or MDSettings()
    outs = [Path(p) for p in out_paths]
    n_mol = len(outs)
    if n_mol == 0 or len(structures) != n_mol:
        raise ValueError(f"need one output file per structure ({len(structures)} structures, "
                         f"{n_mol} outputs)")
    if len(set(outs)) != n_mol:
        raise ValueError("two molecules of one run would write the same file; give each "
                         "its own output name")
    names = list(names) if names is not None else [p.stem for p in outs]
    extras = list(extra_attrs) if extra_attrs is not None else [{} for _ in outs]
    chk_path = checkpoint_path(outs[0])
    run_name = names[0] if n_mol == 1 else f"{names[0]} +{n_mol - 1}"
    plat, props = select_platform(platform, settings.precision, settings.deterministic)
    n_target = settings.n_frames()
    spf = settings.steps_per_frame()

    resume = (not overwrite) and outs[0].exists()
    if resume and not chk_path.exists():
        raise ValueError(f"{outs[0]} exists but has no checkpoint {chk_path.name} to resume "
                         "from; pass overwrite (--overwrite) or choose another output")
    if not resume and chk_path.exists():
        chk_path.unlink()
    if n_mol > 1 and not overwrite:
        there = [p.exists() for p in outs]
        if any(there) and not all(there):
            found = ", ".join(str(p) for p, t in zip(outs, there, strict=True) if t)
            raise ValueError(f"only some of the outputs exist ({found}); a run of several "
                             "molecules resumes only with all of them: overwrite or choose "
                             "another output")

    if resume:
        chk = load_checkpoint(chk_path)
        meta = chk["meta"]
        identity = json.loads(json.dumps(settings.identity()))
        if meta.get("settings") != identity:
            old = meta.get("settings", {})
            diff = sorted(k for k in set(old) | set(identity) if old.get(k) != identity.get(k))
            raise ValueError(f"{outs[0]} was generated with different settings "
                             f"({', '.join(diff)}); use the same settings to resume/extend, "
                             "or overwrite")
        files = meta.get("files", [outs[0].name])
        if files != [p.name for p in outs]:
            raise ValueError(f"{chk_path} belongs to a run of {files}, not "
                             f"{[p.name for p in outs]}; give the same molecules (and "
                             "--copies) to resume, or overwrite")
        system = openmm.XmlSerializer.deserialize(chk["system_xml"])
        integrator, context = _new_context(system, settings, plat, props)
        how = restore_context(context, chk)
        frames_done = int(meta["frames"])
        atoms = ([np.asarray(a, dtype=np.int64) for a in meta["member_atoms"]]
                 if "member_atoms" in meta else [np.asarray(meta["solute_indices"], np.int64)])
        offsets = np.asarray(meta.get("offsets_nm", np.zeros((1, 3))), dtype=float)
        members = []
        for out, nm, idx, off in zip(outs, names, atoms, offsets, strict=True):
            n_file = storage.count_frames(out)
            if n_file < frames_done:
                raise ValueError(f"{out} holds {n_file} frames but its checkpoint "
                                 f"{frames_done}: the file was modified; regenerate with "
                                 "overwrite")
            if n_file > frames_done:
                storage.truncate_frames(out, frames_done)
            with storage.TrajectoryFile(out) as tf:
                mapping_dict = tf.mapping_dict
            from openmm_cgml.mapping import BeadMapping

            members.append(_Member(out, nm, idx, off, BeadMapping.from_dict(mapping_dict)))
        system_xml, top_pdb = chk["system_xml"], chk["topology_pdb"]
        if how == "state":
            print(f"note: checkpoint from another platform; resumed from saved positions and "
                  f"velocities on {plat.getName()} (random stream differs)")
        meta_members = {k: meta[k] for k in ("member_atoms", "offsets_nm", "files")
                        if k in meta}
    else:
        loaded = [s if isinstance(s, tuple) else load_structure(s) for s in structures]
        if n_mol == 1:
            system, full_top, full_pos = prepare_system(*loaded[0], settings)
            atoms = [_solute_indices(full_top)]
            offsets = np.zeros((1, 3))
        else:
            system, full_top, full_pos, atoms, offsets = prepare_set(loaded, settings)
        full_pos_nm = np.array(full_pos.value_in_unit(unit.nanometer))
        integrator, context = _new_context(system, settings, plat, props)
        context.setPositions(full_pos_nm)
        if system.usesPeriodicBoundaryConditions():
            context.setPeriodicBoxVectors(*full_top.getPeriodicBoxVectors())
        context.applyConstraints(1e-6)
        if settings.minimize:
            openmm.LocalEnergyMinimizer.minimize(context, 10.0, 0)
        context.setVelocitiesToTemperature(settings.temperature_K,
                                           openmm_seed(settings.seed, salt=1))
        n_eq = settings.equilibration_steps()
        if n_eq:
            chunk = max(1, min(n_eq, 500))
            with tqdm(total=n_eq, desc=f"{run_name}: equilibrate", unit="step",
                      disable=not progress, leave=False) as bar:
                done = 0
                while done < n_eq:
                    k = min(chunk, n_eq - done)
                    integrator.step(k)
                    done += k
                    bar.update(k)
        context.setTime(0.0)
        context.setStepCount(0)
        pos_nm = _positions_nm(context)
        members = []
        for i, (out, nm, idx, off) in enumerate(zip(outs, names, atoms, offsets, strict=True)):
            mol_top, mol_pos = _subset_topology(full_top, pos_nm - off, idx)
            mapping = make_mapping(mol_top, mol_pos, settings.mapping_scheme,
                                   settings.atoms_per_bead)
            attrs = {
                "kind": "protein", "name": nm,
                "temperature_K": settings.temperature_K,
                "stride_ps": settings.stride_ps,
                "fine_timestep_ps": settings.timestep_ps,
                "seed": settings.seed,
                "forcefield": "+".join(settings.forcefield),
                "solvent": settings.solvent,
                "simulation": {**dataclasses.asdict(settings), "steps_per_frame": spf,
                               "integrator": "LangevinMiddleIntegrator",
                               "constraints": "HBonds"},
                **extras[i],
            }
            if n_mol > 1:
                attrs["shared_system"] = {
                    "molecules": names, "files": [p.name for p in outs], "index": i,
                    "grid_offset_nm": off.tolist(),
                    "com_restraint": f"flat-bottom, free within {SET_RESTRAINT_FREE_NM} nm, "
                                     f"{SET_RESTRAINT_K} kJ/mol/nm^2 beyond"}
            storage.create_trajectory(out, mapping=mapping,
                                      atom_topology_pdb=_pdb_text(mol_top, mol_pos),
                                      attrs=attrs, save_atoms=settings.save_atoms)
            members.append(_Member(out, nm, idx, off, mapping))
        system_xml = openmm.XmlSerializer.serialize(system)
        top_pdb = _pdb_text(full_top, pos_nm)
        frames_done = 0
        meta_members = ({} if n_mol == 1 else
                        {"member_atoms": [a.tolist() for a in atoms],
                         "offsets_nm": offsets.tolist(), "files": [p.name for p in outs]})
    num_atoms_total = system.getNumParticles()
    base_meta = {"settings": settings.identity(),
                 "solute_indices": np.concatenate(atoms).tolist(),
                 "platform": plat.getName(), **meta_members}
    save_checkpoint(chk_path, context, {**base_meta, "frames": frames_done},
                    system_xml, top_pdb)
    for m in members:
        storage.set_attrs(m.out, production_ps=settings.production_ps, platform=plat.getName())

    new = 0
    t0 = _time.perf_counter()
    with tqdm(total=n_target, initial=frames_done, desc=f"{run_name}: produce", unit="frame",
              disable=not progress) as bar:
        while frames_done < n_target and not budget_spent(t_call, max_wall_s):
            block_beads: list[list[np.ndarray]] = [[] for _ in members]
            block_atoms: list[list[np.ndarray]] = [[] for _ in members]
            block_t: list[float] = []
            t_block = _time.perf_counter()
            while (frames_done + len(block_t) < n_target and len(block_t) < max_block_frames
                   and (not block_t or _time.perf_counter() - t_block < checkpoint_interval_s)
                   and not (block_t and budget_spent(t_call, max_wall_s))):
                integrator.step(spf)
                pos_nm = _positions_nm(context)
                for j, m in enumerate(members):
                    mol = pos_nm[m.atoms] - m.offset_nm
                    block_beads[j].append(m.mapping.bead_positions(mol))
                    if settings.save_atoms:
                        block_atoms[j].append(mol)
                block_t.append((frames_done + len(block_t) + 1) * settings.stride_ps)
                bar.update(1)
            for j, m in enumerate(members):
                done_j = storage.append_frames(
                    m.out, np.stack(block_beads[j]), np.array(block_t),
                    np.stack(block_atoms[j]) if settings.save_atoms else None)
            frames_done = done_j
            new += len(block_t)
            save_checkpoint(chk_path, context, {**base_meta, "frames": frames_done},
                            system_xml, top_pdb)
            elapsed = _time.perf_counter() - t0
            nsday = new * settings.stride_ps * 1e-3 / max(elapsed, 1e-9) * 86400.0
            bar.set_postfix(ns_day=f"{nsday:.1f}" + (f" x {n_mol}" if n_mol > 1 else ""))
            if callback is not None:
                callback(frames_done)
    wall = _time.perf_counter() - t0
    nsday = new * settings.stride_ps * 1e-3 / wall * 86400.0 if new and wall > 0 else math.nan
    results = []
    for m in members:
        if new:
            storage.set_attrs(m.out, last_ns_per_day=nsday)
        results.append(RunResult(
            path=m.out, frames=frames_done, new_frames=new, platform=plat.getName(),
            wall_s=wall, ns_per_day=nsday, num_atoms=num_atoms_total,
            num_beads=int(m.mapping.num_beads), extra={"molecules_in_system": n_mol}))
    return results
