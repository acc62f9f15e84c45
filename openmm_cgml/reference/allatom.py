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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from openmm_cgml.reference import storage
from openmm_cgml.utils import atomic_path

PLATFORM_ORDER = ("CUDA", "CPU", "Reference")
_SOLVENTS = ("implicit", "explicit")


def select_platform(name: str | None = None, precision: str = "mixed"
                    ) -> tuple[Any, dict[str, str]]:
    """Pick an OpenMM platform: by ``name``, or the first available of CUDA > CPU > Reference.

    Returns ``(platform, properties)``; CUDA/OpenCL/HIP get ``Precision=precision``.
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
    props = {"Precision": precision} if chosen in ("CUDA", "OpenCL", "HIP") else {}
    return openmm.Platform.getPlatformByName(chosen), props


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
        for key in ("production_ps", "precision"):
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


def prepare_system(topology: Any, positions: Any, settings: MDSettings
                   ) -> tuple[Any, Any, Any]:
    """Strip water/ions, add missing hydrogens, (explicit) solvate; build the System.

    Returns ``(system, topology, positions)`` of the full simulated system.
    """
    import openmm
    from openmm import app, unit

    ff = app.ForceField(*settings.forcefield)
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
    try:
        system = ff.createSystem(modeller.topology, constraints=app.HBonds,
                                 hydrogenMass=settings.hydrogen_mass_amu * unit.amu, **kwargs)
    except ValueError as exc:
        raise ValueError(f"force field {settings.forcefield} cannot parametrise the "
                         f"structure: {exc}") from exc
    return system, modeller.topology, modeller.positions


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


def run_reference(
    structure: str | os.PathLike | tuple[Any, Any],
    out_path: str | os.PathLike,
    settings: MDSettings | None = None,
    *,
    name: str | None = None,
    platform: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    checkpoint_interval_s: float = 300.0,
    max_block_frames: int = 1000,
    max_wall_s: float | None = None,
    extra_attrs: dict[str, Any] | None = None,
    callback: Callable[[int], None] | None = None,
) -> RunResult:
    """Run (or resume/extend) an all-atom trajectory and store it at the CG stride.

    Args:
        structure: a PDB/PDBx path, or ``(openmm.app.Topology, positions)``.
        out_path: the ``.h5`` trajectory to write (``<out_path>.chk`` beside it).
        settings: :class:`MDSettings` (``production_ps`` is the total production length:
            if the file already holds fewer frames the run is resumed/extended).
        name: stored as the ``name`` attribute (default: the file stem).
        platform: OpenMM platform name or None/"auto" (CUDA > CPU > Reference).
        overwrite: start afresh even if a trajectory/checkpoint exists.
        progress: show a tqdm progress bar.
        checkpoint_interval_s: wall-clock seconds between flushes of frames + checkpoint.
        max_block_frames: at most this many frames per flush.
        max_wall_s: stop production cleanly (frames flushed, checkpoint written) once this
            many wall-clock seconds have passed since the call started; re-running with the
            same settings continues the run. None: no limit.
        extra_attrs: further root attributes (e.g. ``sequence``).
        callback: called with the number of stored frames after each flush (for tests
            and monitoring; an exception raised there stops the run like an interrupt).

    Returns:
        :class:`RunResult` with the measured speed (ns/day of production).
    """
    import openmm
    from openmm import unit
    from tqdm.auto import tqdm

    t_call = _time.perf_counter()
    settings = settings or MDSettings()
    out = Path(out_path)
    chk_path = checkpoint_path(out)
    name = name or out.stem
    plat, props = select_platform(platform, settings.precision)
    n_target = settings.n_frames()
    spf = settings.steps_per_frame()
    dt = settings.timestep_ps

    resume = (not overwrite) and out.exists()
    if resume and not chk_path.exists():
        raise ValueError(f"{out} exists but has no checkpoint {chk_path.name} to resume from; "
                         "pass overwrite (--overwrite) or choose another output")
    if not resume and chk_path.exists():
        chk_path.unlink()

    if resume:
        chk = load_checkpoint(chk_path)
        meta = chk["meta"]
        if meta.get("settings") != json.loads(json.dumps(settings.identity())):
            old = meta.get("settings", {})
            diff = sorted(k for k in set(old) | set(settings.identity())
                          if old.get(k) != json.loads(json.dumps(settings.identity())).get(k))
            raise ValueError(f"{out} was generated with different settings ({', '.join(diff)}); "
                             "use the same settings to resume/extend, or overwrite")
        system = openmm.XmlSerializer.deserialize(chk["system_xml"])
        from openmm import app

        full_top = app.PDBFile(io.StringIO(chk["topology_pdb"])).topology
        solute = np.asarray(meta["solute_indices"], dtype=np.int64)
        integrator = openmm.LangevinMiddleIntegrator(
            settings.temperature_K, settings.friction_per_ps, dt)
        integrator.setRandomNumberSeed(openmm_seed(settings.seed))
        context = openmm.Context(system, integrator, plat, props)
        how = restore_context(context, chk)
        frames_done = int(meta["frames"])
        n_file = storage.count_frames(out)
        if n_file < frames_done:
            raise ValueError(f"{out} holds {n_file} frames but its checkpoint {frames_done}: "
                             "the file was modified; regenerate with overwrite")
        if n_file > frames_done:
            storage.truncate_frames(out, frames_done)
        with storage.TrajectoryFile(out) as tf:
            mapping_dict = tf.mapping_dict
        from openmm_cgml.mapping import BeadMapping

        mapping = BeadMapping.from_dict(mapping_dict)
        system_xml, top_pdb = chk["system_xml"], chk["topology_pdb"]
        if how == "state":
            print(f"note: checkpoint from another platform; resumed from saved positions and "
                  f"velocities on {plat.getName()} (random stream differs)")
        num_atoms_total = system.getNumParticles()
    else:
        if isinstance(structure, tuple):
            topology, positions = structure
        else:
            topology, positions = load_structure(structure)
        system, full_top, full_pos = prepare_system(topology, positions, settings)
        full_pos_nm = np.array(full_pos.value_in_unit(unit.nanometer))
        solute = _solute_indices(full_top)
        integrator = openmm.LangevinMiddleIntegrator(
            settings.temperature_K, settings.friction_per_ps, dt)
        integrator.setRandomNumberSeed(openmm_seed(settings.seed))
        context = openmm.Context(system, integrator, plat, props)
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
            with tqdm(total=n_eq, desc=f"{name}: equilibrate", unit="step",
                      disable=not progress, leave=False) as bar:
                done = 0
                while done < n_eq:
                    k = min(chunk, n_eq - done)
                    integrator.step(k)
                    done += k
                    bar.update(k)
        context.setTime(0.0)
        context.setStepCount(0)
        pos = context.getState(getPositions=True).getPositions(asNumpy=True)
        pos_nm = np.asarray(pos.value_in_unit(unit.nanometer))
        solute_top, solute_pos = _subset_topology(full_top, pos_nm, solute)
        mapping = make_mapping(solute_top, solute_pos, settings.mapping_scheme,
                               settings.atoms_per_bead)
        attrs = {
            "kind": "protein", "name": name,
            "temperature_K": settings.temperature_K,
            "stride_ps": settings.stride_ps,
            "fine_timestep_ps": dt,
            "seed": settings.seed,
            "forcefield": "+".join(settings.forcefield),
            "solvent": settings.solvent,
            "simulation": {**dataclasses.asdict(settings), "steps_per_frame": spf,
                           "integrator": "LangevinMiddleIntegrator", "constraints": "HBonds"},
            **(extra_attrs or {}),
        }
        storage.create_trajectory(out, mapping=mapping,
                                  atom_topology_pdb=_pdb_text(solute_top, solute_pos),
                                  attrs=attrs, save_atoms=settings.save_atoms)
        system_xml = openmm.XmlSerializer.serialize(system)
        top_pdb = _pdb_text(full_top, pos_nm)
        frames_done = 0
        num_atoms_total = system.getNumParticles()
        meta = {}
    base_meta = {"settings": settings.identity(), "solute_indices": solute.tolist(),
                 "platform": plat.getName()}
    save_checkpoint(chk_path, context, {**base_meta, "frames": frames_done},
                    system_xml, top_pdb)
    storage.set_attrs(out, production_ps=settings.production_ps, platform=plat.getName())

    new = 0
    t0 = _time.perf_counter()
    with tqdm(total=n_target, initial=frames_done, desc=f"{name}: produce", unit="frame",
              disable=not progress) as bar:
        while frames_done < n_target and not budget_spent(t_call, max_wall_s):
            block_beads, block_atoms, block_t = [], [], []
            t_block = _time.perf_counter()
            while (frames_done + len(block_t) < n_target and len(block_t) < max_block_frames
                   and (not block_t or _time.perf_counter() - t_block < checkpoint_interval_s)
                   and not (block_t and budget_spent(t_call, max_wall_s))):
                integrator.step(spf)
                state = context.getState(getPositions=True)
                pos_nm = np.asarray(state.getPositions(asNumpy=True).value_in_unit(
                    unit.nanometer))[solute]
                block_beads.append(mapping.bead_positions(pos_nm))
                if settings.save_atoms:
                    block_atoms.append(pos_nm)
                block_t.append((frames_done + len(block_t) + 1) * settings.stride_ps)
                bar.update(1)
            frames_done = storage.append_frames(
                out, np.stack(block_beads), np.array(block_t),
                np.stack(block_atoms) if settings.save_atoms else None)
            new += len(block_t)
            save_checkpoint(chk_path, context, {**base_meta, "frames": frames_done},
                            system_xml, top_pdb)
            elapsed = _time.perf_counter() - t0
            nsday = new * settings.stride_ps * 1e-3 / max(elapsed, 1e-9) * 86400.0
            bar.set_postfix(ns_day=f"{nsday:.1f}")
            if callback is not None:
                callback(frames_done)
    wall = _time.perf_counter() - t0
    nsday = new * settings.stride_ps * 1e-3 / wall * 86400.0 if new and wall > 0 else math.nan
    if new:
        storage.set_attrs(out, last_ns_per_day=nsday)
    return RunResult(path=out, frames=frames_done, new_frames=new, platform=plat.getName(),
                     wall_s=wall, ns_per_day=nsday, num_atoms=num_atoms_total,
                     num_beads=int(mapping.num_beads))
