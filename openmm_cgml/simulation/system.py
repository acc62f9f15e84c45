"""OpenMM objects for CG simulations: a System of beads and the CGMLIntegrator."""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from typing import Any

import numpy as np
import openmm
import openmm.unit as u
import torch


def create_system(mapping: Any, *, box_vectors: Any = None,
                  forces: Iterable[openmm.Force] = ()) -> openmm.System:
    """An ``openmm.System`` with one particle per bead of ``mapping`` (mass in amu).

    Args:
        mapping: a ``BeadMapping`` (anything with ``bead_masses``, amu), or a list of them
            (particles concatenated in order, as in a batched step module).
        box_vectors: optional periodic box, three vectors (nm or openmm Quantity) or a
            ``[3, 3]`` array; default: no periodic box.
        forces: extra OpenMM forces to add (they reach the learned step as
            ``external_force``). No force is added otherwise.
    """
    mappings = list(mapping) if isinstance(mapping, (list, tuple)) else [mapping]
    system = openmm.System()
    for index, m in enumerate(mappings):
        masses = getattr(m, "bead_masses", None)
        if masses is None:
            raise ValueError(f"mapping #{index} has no bead_masses; build it with "
                             "openmm_cgml.coarse_grain(...)")
        masses = np.asarray(masses, dtype=np.float64)
        if masses.ndim != 1 or not np.all(np.isfinite(masses)) or np.any(masses <= 0):
            raise ValueError(f"mapping #{index}: bead masses must be positive finite amu values")
        for mass in masses:
            system.addParticle(float(mass) * u.amu)
    if box_vectors is not None:
        if isinstance(box_vectors, u.Quantity):
            box_vectors = box_vectors.value_in_unit(u.nanometer)
        box = np.asarray([np.asarray(v.value_in_unit(u.nanometer) if isinstance(v, u.Quantity)
                                     else v, dtype=float) for v in box_vectors])
        if box.shape != (3, 3):
            raise ValueError(f"box_vectors must be three 3-vectors (nm), got shape {box.shape}")
        system.setDefaultPeriodicBoxVectors(*(openmm.Vec3(*row) * u.nanometer for row in box))
    for force in forces:
        system.addForce(force)
    return system


def combine_mappings(mappings: Any, positions: Any = None
                     ) -> tuple[Any, np.ndarray]:
    """Bead topology and positions of several molecules in one System (replicas, mixtures).

    Args:
        mappings: a BeadMapping or a list of them (order = particle order, as in
            ``create_system(list)`` and ``export_step_module(model, list)``).
        positions: optional list of ``[N_i, 3]`` bead positions (nm); default: each mapping's
            first frame. Replicas of one molecule overlap in space unless you shift them;
            they never interact (the step module keeps molecules apart).

    Returns:
        ``(openmm.app.Topology, float64 [sum N_i, 3] nm)``.
    """
    import openmm.app as app

    items = list(mappings) if isinstance(mappings, (list, tuple)) else [mappings]
    if not items:
        raise ValueError("combine_mappings: no mappings given")
    if positions is None:
        positions = [m.bead_positions()[0] if m.bead_positions().ndim == 3
                     else m.bead_positions() for m in items]
    if len(positions) != len(items):
        raise ValueError(f"{len(items)} mappings but {len(positions)} position arrays")
    top = app.Topology()
    blocks = []
    for m, x in zip(items, positions, strict=True):
        x = np.asarray(x, dtype=np.float64).reshape(-1, 3)
        if x.shape[0] != m.num_beads:
            raise ValueError(f"positions have {x.shape[0]} beads, the mapping {m.num_beads}")
        _append_topology(top, m.topology)
        blocks.append(x)
    if items[0].topology.getPeriodicBoxVectors() is not None:
        top.setPeriodicBoxVectors(items[0].topology.getPeriodicBoxVectors())
    return top, np.concatenate(blocks, 0)


def _append_topology(top: Any, src: Any) -> None:
    """Copy the chains, residues, atoms and bonds of Topology ``src`` to the end of ``top``
    (linear in the size of ``src``; ``Modeller.add`` copies everything each time)."""
    atoms = {}
    for chain in src.chains():
        new_chain = top.addChain(chain.id)
        for res in chain.residues():
            new_res = top.addResidue(res.name, new_chain, res.id, res.insertionCode)
            for atom in res.atoms():
                atoms[atom] = top.addAtom(atom.name, atom.element, new_res, atom.id)
    for bond in src.bonds():
        top.addBond(atoms[bond[0]], atoms[bond[1]], bond.type, bond.order)


def _module_bytes(step_module: Any) -> Any:
    """Pass paths/bytes through; serialise an in-memory ScriptModule to bytes."""
    if isinstance(step_module, (str, os.PathLike)):
        if not os.path.isfile(step_module):
            raise FileNotFoundError(f"step module {step_module} does not exist")
        return os.fspath(step_module)
    if isinstance(step_module, (bytes, bytearray)):
        return bytes(step_module)
    if isinstance(step_module, torch.jit.ScriptModule):
        buffer = io.BytesIO()
        torch.jit.save(step_module, buffer)
        return buffer.getvalue()
    raise ValueError("step_module must be a path, bytes or a torch.jit.ScriptModule "
                     f"(export one with openmm_cgml.export.export_step_module), got "
                     f"{type(step_module).__name__}")


def no_jit_respecialisation() -> Any:
    """Context manager: run TorchScript without the profiling executor's re-specialisation.

    The CG neighbour lists change size every step; with graph optimisation on, TorchScript
    re-specialises the graph again and again (measured on CPU: steps of ~10 ms with spikes of
    ~0.9 s). The switch is thread-local in libtorch and the plugin runs the module in the
    calling thread, so wrapping ``Simulation.step`` / ``integrator.step`` in this context
    also covers the compiled CGMLIntegrator. ``cgml simulate`` does this for you.
    """
    return torch.jit.optimized_execution(False)


def create_integrator(step_module: Any, seed: int | None = None,
                      cuda_graphs: bool = True) -> openmm.Integrator:
    """A ``CGMLIntegrator`` (compiled plugin) running ``step_module``.

    Args:
        step_module: TorchScript step module (object, path or bytes), see
            ``openmm_cgml.export.export_step_module``.
        seed: integrator random seed (same seed -> same trajectory on the same platform).
        cuda_graphs: on CUDA, capture a graph-safe module (exported with a static graph) in a
            CUDA graph and replay it every step (``CGMLIntegrator.setUseCudaGraphs``; default
            on; replays give the numbers of ordinary calls).
    """
    from openmm_cgml.plugin import CGMLIntegrator

    integrator = CGMLIntegrator(_module_bytes(step_module), seed)
    integrator.setUseCudaGraphs(bool(cuda_graphs))
    return integrator


def create_force(energy_module: Any) -> openmm.Force:
    """A ``CGMLForce`` (compiled plugin) from a TorchScript energy module (object/path/bytes)."""
    from openmm_cgml.plugin import CGMLForce

    return CGMLForce(_module_bytes(energy_module))
