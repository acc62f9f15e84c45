"""CG rollouts for evaluation: batched replicas, per-step collision and blow-up checks.

The stepping itself is :func:`openmm_cgml.simulation.rollout` (the same TorchScript step module
the plugin runs, with the integrator's noise streams). This module runs it in chunks so that it
can check every model step of every replica for collisions and blow-ups, retire replicas that
blew up (the others go on), and keep only every ``record_interval``-th frame in memory.

Replica ``r`` of molecule ``i`` draws its noise from its own
:class:`openmm_cgml.simulation.NoiseStream` seeded with :func:`replica_seeds`, so a run is
reproducible from ``seed`` whatever the chunking or batching.

Long runs are resumable (:func:`run_units` with ``state_path``): the state at a chunk boundary
(histories, noise-stream states, recorded frames, stability) is written atomically now and
then and when a wall-clock budget runs out (:class:`RolloutsPaused`); a call with the same
arguments continues it and gives the same trajectories as an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from openmm_cgml import analysis as A
from openmm_cgml.utils import atomic_path

__all__ = [
    "RolloutResult",
    "RolloutsPaused",
    "replica_seeds",
    "initial_histories",
    "run_replicas",
    "run_units",
    "upgrade_state_identity",
    "write_rollout_files",
]

ModuleFactory = Callable[[int], torch.nn.Module]


class RolloutsPaused(RuntimeError):
    """The wall-clock budget of :func:`run_units` ran out; its state is in ``path``.

    Call again with the same arguments (``cgml evaluate``: the same command) to continue.
    ``steps_done`` / ``n_steps``: model steps of the batch in progress.
    """

    def __init__(self, path: Path, steps_done: int, n_steps: int,
                 stability: list[dict[str, Any]] | None = None) -> None:
        so_far = ""
        if stability:  # the strict figure so far: rollouts that collided / blew up already
            collided = sum(s["first_collision_step"] >= 0 for s in stability)
            blown = sum(s["blowup_step"] >= 0 for s in stability)
            so_far = (f"; so far {collided} of {len(stability)} rollouts collided and "
                      f"{blown} blew up")
        super().__init__(
            f"rollouts paused after {steps_done} of {n_steps} model steps (wall-clock budget)"
            f"{so_far}; their state is in {path}: run the same command again to continue"
        )
        self.path, self.steps_done, self.n_steps = path, steps_done, n_steps


def replica_seeds(seed: int, molecule_index: int, replicas: int) -> list[int]:
    """Independent integrator seeds (31-bit ints) for the replicas of one molecule."""
    state = np.random.SeedSequence([int(seed), int(molecule_index)]).generate_state(replicas)
    return [int(s) & 0x7FFFFFFF for s in state]


def initial_histories(
    frames: np.ndarray,
    history_length: int,
    frame_ratio: int,
    replicas: int,
    spread: bool = True,
) -> list[np.ndarray]:
    """Starting histories ``[k, N, 3]`` (nm) for the replicas, cut from reference frames.

    Args:
        frames: reference trajectory ``[T, N, 3]`` nm at its own stride.
        history_length: k frames, spaced by ``frame_ratio`` stored frames (the model step is
            ``frame_ratio`` reference strides).
        spread: start replica ``r`` at ``r * (T - span) // replicas`` (distinct, decorrelated
            starting points) instead of all at frame 0.
    """
    span = (history_length - 1) * frame_ratio + 1
    t = len(frames)
    if t < span:
        raise ValueError(
            f"the reference has {t} frames; a history of {history_length} frames "
            f"{frame_ratio} strides apart needs {span}"
        )
    out = []
    for r in range(replicas):
        start = (r * (t - span)) // replicas if spread else 0
        out.append(np.asarray(frames[start : start + span : frame_ratio], dtype=np.float64))
    return out


@dataclass
class RolloutResult:
    """Rollouts of one molecule.

    Attributes:
        frames: per replica, ``[F, N, 3]`` float32 nm: the starting frame then every
            ``record_interval``-th model step (fewer frames if the replica blew up).
        stability: per replica, a dict: ``stable`` (no collision and no blow-up over all steps),
            ``steps_completed``, ``steps_checked`` (model steps inspected), ``collided_bead_steps``,
            ``first_collision_step`` (-1 if none), ``blowup_step`` (-1 if none; when the module
            itself returned NaN, the first step of the chunk in which it did), ``reason``.
        seeds: integrator seed per replica.
        timestep_ps: model time step; ``record_interval``: steps between stored frames.
        wall_s: wall time inside the step module calls (s); ``model_steps``: total replica-steps.
    """

    frames: list[np.ndarray]
    stability: list[dict[str, Any]]
    seeds: list[int]
    timestep_ps: float
    record_interval: int
    wall_s: float
    model_steps: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ns_per_day(self) -> float:
        """Simulated ns per wall-clock day, per replica (all replicas run together)."""
        if self.wall_s <= 0 or not self.frames:
            return float("nan")
        steps_per_replica = self.model_steps / max(1, len(self.frames))
        return steps_per_replica * self.timestep_ps * 1e-3 / self.wall_s * 86400.0


def _blown_up(x: np.ndarray, bonds: np.ndarray, max_bond_nm: float | None) -> np.ndarray:
    """Per frame of ``x [c, N, 3]``: non-finite, absurd coordinates or a stretched bond."""
    bad = ~np.isfinite(x).all(axis=(1, 2))
    with np.errstate(invalid="ignore"):
        bad |= np.abs(np.nan_to_num(x, nan=0.0)).max(axis=(1, 2)) > 1e4
        if max_bond_nm is not None and len(bonds):
            bl = np.linalg.norm(x[:, bonds[:, 0]] - x[:, bonds[:, 1]], axis=-1)
            bad |= (bl > max_bond_nm).any(axis=1)
    return bad


def run_replicas(
    module_factory: ModuleFactory,
    histories: list[np.ndarray],
    n_steps: int,
    seeds: list[int],
    *,
    bonds: np.ndarray | None = None,
    collision_threshold_nm: float = A.DEFAULT_COLLISION_THRESHOLD_NM,
    max_bond_nm: float | None = None,
    record_interval: int = 1,
    chunk_steps: int = 500,
    device: str | torch.device = "cpu",
    batch_replicas: bool = True,
    progress: bool = False,
) -> RolloutResult:
    """Run replicas of one molecule for ``n_steps`` model steps each.

    Args:
        module_factory: ``f(n) -> step module`` for ``n`` copies of the molecule (batched,
            ``export_step_module(model, [mapping] * n)``); with ``batch_replicas=False`` it is
            only called with ``n = 1`` and replicas run one after another.
        histories: per replica ``[k, N, 3]`` nm starting history.
        seeds: per replica integrator seed.
        bonds: ``[B, 2]`` CG bonds (excluded from collisions; for the bond blow-up check).
        collision_threshold_nm: a non-bonded pair closer than this is a collision (0.1 nm).
        max_bond_nm: a bond longer than this is a blow-up (the replica is stopped).
        record_interval: keep every this many model steps.
        chunk_steps: steps per call of the simulation layer (checks happen per chunk).

    See :func:`run_units` (several molecules batched together).
    """
    r = len(histories)
    return run_units(
        lambda ids: module_factory(len(ids)),
        histories,
        n_steps,
        seeds,
        bonds=[bonds] * r,
        max_bond_nm=[max_bond_nm] * r,
        collision_threshold_nm=collision_threshold_nm,
        record_interval=record_interval,
        chunk_steps=chunk_steps,
        device=device,
        max_batch=None if batch_replicas else 1,
        progress=progress,
    )


def run_units(
    module_factory: Callable[[list[int]], torch.nn.Module],
    histories: list[np.ndarray],
    n_steps: int,
    seeds: list[int],
    *,
    bonds: list[np.ndarray | None] | None = None,
    max_bond_nm: list[float | None] | None = None,
    collision_threshold_nm: float = A.DEFAULT_COLLISION_THRESHOLD_NM,
    record_interval: int = 1,
    chunk_steps: int = 500,
    device: str | torch.device = "cpu",
    max_batch: int | None = None,
    progress: bool = False,
    state_path: str | os.PathLike | None = None,
    state_identity: dict[str, Any] | None = None,
    checkpoint_interval_s: float = 300.0,
    max_wall_s: float | None = None,
    stop_on_collision: bool = False,
) -> RolloutResult:
    """Run independent *units* (molecule replicas, possibly of different molecules) together.

    Args:
        module_factory: ``f(unit_ids) -> step module`` over the concatenated beads of those
            units, in that order (``export_step_module(model, [mapping of u for u in ids])``).
            Called again with fewer units when some are retired.
        histories: per unit ``[k, N_u, 3]`` nm.
        seeds: per unit integrator seed (its own :class:`~openmm_cgml.simulation.NoiseStream`).
        bonds, max_bond_nm: per unit CG bonds ``[B, 2]`` and blow-up bond length (nm).
        max_batch: at most this many units per module (``None``: all together).
        state_path: make the run resumable: its state is written here (atomically, torch
            format) every ``checkpoint_interval_s`` seconds at a chunk boundary, when
            ``max_wall_s`` seconds have passed since the call started (then
            :class:`RolloutsPaused` is raised; the budget is checked between chunks, and a
            call that continues a paused run always advances at least one chunk) and at
            the end. If the file exists, the run continues from it (a finished run is
            returned at once); it must come from the same arguments and ``state_identity``
            (JSON-able facts the caller adds, e.g. the model), else ValueError.
        stop_on_collision: also stop a unit at its first collision (its frames end there).
            Enough for the stability figure (a rollout is stable if it finishes without a
            collision or a blow-up) and cheaper: the batch shrinks as units collide. The
            collision rate then counts the bead-steps up to each unit's first collision.

    Every model step of every unit is checked; a unit whose positions become non-finite,
    absurd (> 1e4 nm) or with a bond longer than its ``max_bond_nm`` is stopped, the others
    go on. Returns a :class:`RolloutResult` with one entry per unit.
    """
    from openmm_cgml.simulation import NoiseStream, rollout

    u_total = len(histories)
    if len(seeds) != u_total or u_total == 0:
        raise ValueError("give one seed per unit (and at least one unit)")
    if n_steps < 1 or record_interval < 1 or chunk_steps < 1:
        raise ValueError("n_steps, record_interval and chunk_steps must be >= 1")
    if max_wall_s is not None and state_path is None:
        raise ValueError("max_wall_s pauses a resumable run: give state_path as well")
    bl = [A._validation.as_pairs(b, None) for b in (bonds or [None] * u_total)]
    mb = list(max_bond_nm or [None] * u_total)
    hist = [torch.as_tensor(np.asarray(h), dtype=torch.float32) for h in histories]
    sizes = [int(h.shape[1]) for h in hist]
    k = int(hist[0].shape[0])
    if any(int(h.shape[0]) != k for h in hist):
        raise ValueError("all starting histories must have the same length k")
    streams = [NoiseStream(s) for s in seeds]
    # recorded frames are kept as float32 (the model works in float32; long rollouts)
    frames: list[list[np.ndarray]] = [[np.asarray(h[-1], dtype=np.float32)] for h in histories]
    stab = [
        {
            "stable": True,
            "steps_completed": 0,
            "steps_checked": 0,
            "collided_bead_steps": 0,
            "first_collision_step": -1,
            "blowup_step": -1,
            "reason": "",
        }
        for _ in range(u_total)
    ]
    size = u_total if max_batch is None else max(1, int(max_batch))
    groups = [list(range(a, min(u_total, a + size))) for a in range(0, u_total, size)]
    wall = 0.0
    model_steps = 0
    meta: dict[str, float] = {}
    t_call = time.perf_counter()
    state_file = Path(state_path) if state_path is not None else None
    identity = ""
    start = (0, 0, None)  # group, steps done in it, its active units
    complete = False
    resumed = False  # a continued run advances at least one chunk per call, whatever the budget
    if state_file is not None:
        identity = _state_identity(hist, seeds, n_steps, record_interval, chunk_steps, size,
                                   collision_threshold_nm, mb, bl, state_identity,
                                   stop_on_collision)
        if state_file.exists():
            st = _load_state(state_file, identity)
            hist = list(st["hist"])
            for i, g in enumerate(st["rng"]):
                streams[i].set_state(g)
            frames = [list(f.numpy()) for f in st["frames"]]
            stab = json.loads(st["stability"])
            wall, model_steps = float(st["wall_s"]), int(st["model_steps"])
            start = (int(st["group"]), int(st["done"]), list(st["active"]))
            if st["timestep_ps"] is not None:
                meta["timestep_ps"] = float(st["timestep_ps"])
            complete = bool(st["complete"])
            resumed = True
    last_save = time.perf_counter()

    def save_state(group: int, done: int, active: list[int], finished: bool = False) -> None:
        nonlocal last_save
        assert state_file is not None
        doc = {
            "format": "openmm-cgml rollout state 1",
            "identity": identity,
            "group": group,
            "done": done,
            "active": list(active),
            "complete": finished,
            "hist": hist,
            "rng": [st.get_state() for st in streams],
            "frames": [torch.from_numpy(np.stack(f)) for f in frames],
            "stability": json.dumps(stab),
            "wall_s": wall,
            "model_steps": model_steps,
            "timestep_ps": meta.get("timestep_ps"),
        }
        with atomic_path(state_file) as tmp:
            torch.save(doc, tmp)
        last_save = time.perf_counter()

    cache: dict[tuple[int, ...], torch.nn.Module] = {}

    def module_for(ids: list[int]) -> torch.nn.Module:
        key = tuple(ids)
        if key not in cache:
            cache.clear()  # keep one batched module alive at a time (memory)
            m = module_factory(list(ids))
            need = sum(sizes[i] for i in ids)
            if int(m.history_length) != k or int(m.num_particles) != need:
                raise ValueError(
                    f"step module expects history {int(m.history_length)} x "
                    f"{int(m.num_particles)} beads, the units give {k} x {need}"
                )
            meta["timestep_ps"] = float(m.timestep_ps)
            cache[key] = m
        return cache[key]

    def advance(active: list[int], steps: int) -> dict[int, np.ndarray | None]:
        """Run ``steps`` for the active units; per unit frames [steps+1, N_u, 3] or None."""
        nonlocal wall, model_steps
        states = {i: streams[i].get_state() for i in active}
        module = module_for(active)

        def noise(step: int, m_draws: int, particles: int) -> torch.Tensor:
            return torch.cat([streams[i].draw(m_draws, sizes[i]) for i in active], dim=1)

        t0 = time.perf_counter()
        try:
            out = rollout(
                module,
                torch.cat([hist[i] for i in active], dim=1),
                steps,
                noise=noise,
                device=device,
            )
            wall += time.perf_counter() - t0
            model_steps += steps * len(active)
            offsets = np.cumsum([0] + [sizes[i] for i in active])
            return {i: out[:, offsets[j] : offsets[j + 1]] for j, i in enumerate(active)}
        except FloatingPointError:
            wall += time.perf_counter() - t0
            if len(active) == 1:
                return {active[0]: None}
        # a unit returned NaN: replay the chunk unit by unit (same noise)
        res: dict[int, np.ndarray | None] = {}
        for i in active:
            streams[i].set_state(states[i])
            res.update(advance([i], steps))
        return res

    for gi, group in enumerate(groups):
        if complete or gi < start[0]:
            continue
        active = list(group) if gi > start[0] or start[2] is None else list(start[2])
        done = start[1] if gi == start[0] else 0
        pbar = None
        if progress:
            from tqdm import tqdm

            pbar = tqdm(total=n_steps, initial=done, desc=f"rollout x{len(active)}", unit="step")
        while done < n_steps and active:
            if (max_wall_s is not None and not resumed
                    and time.perf_counter() - t_call >= max_wall_s):
                save_state(gi, done, active)
                if pbar is not None:
                    pbar.close()
                raise RolloutsPaused(state_file, done, n_steps, stab)
            steps = min(chunk_steps, n_steps - done)
            results = advance(active, steps)
            still: list[int] = []
            for i in active:
                out = results[i]
                st = stab[i]
                if out is None:  # NaN inside this chunk: frames of the chunk are lost
                    st.update(stable=False, blowup_step=done + 1, reason="non-finite")
                    st["steps_completed"] = done
                    continue
                new = np.asarray(out[1:], dtype=np.float64)
                bad = _blown_up(new, bl[i], mb[i])
                upto = int(np.argmax(bad)) if bad.any() else steps
                checked = new[:upto]
                collided = False
                if len(checked):
                    hits = A.colliding_beads(checked, collision_threshold_nm, bl[i])
                    rows = np.nonzero(hits.any(axis=1))[0]
                    if len(rows) and stop_on_collision:
                        # the unit ends at its first collision (a blow-up after it is not seen)
                        upto = int(rows[0]) + 1
                        checked, hits, bad = checked[:upto], hits[:upto], bad[:0]
                        collided = True
                    st["collided_bead_steps"] += int(hits.sum())
                    st["steps_checked"] += len(checked)
                    if len(rows) and st["first_collision_step"] < 0:
                        st["first_collision_step"] = done + int(rows[0]) + 1
                        st["stable"] = False
                        st["reason"] = st["reason"] or "collision"
                for j in range(len(checked)):
                    if (done + j + 1) % record_interval == 0:
                        frames[i].append(checked[j].astype(np.float32))
                st["steps_completed"] = done + upto
                if bad.any():
                    st.update(stable=False, blowup_step=done + upto + 1, reason="blow-up")
                    continue
                if collided:
                    continue
                hist[i] = torch.cat(
                    [hist[i], torch.as_tensor(new[-k:], dtype=torch.float32)], dim=0
                )[-k:]
                still.append(i)
            active = still
            done += steps
            resumed = False  # progress made: the budget applies from here on
            if pbar is not None:
                pbar.update(steps)
            if state_file is not None and time.perf_counter() - last_save >= checkpoint_interval_s:
                save_state(gi, done, active)
        if pbar is not None:
            pbar.close()
    if state_file is not None and not complete:
        save_state(len(groups), 0, [], finished=True)
    timestep = meta.get("timestep_ps") or float(module_for([0]).timestep_ps)
    return RolloutResult(
        frames=[np.stack(f) for f in frames],
        stability=stab,
        seeds=list(seeds),
        timestep_ps=timestep,
        record_interval=record_interval,
        wall_s=wall,
        model_steps=model_steps,
    )


def _state_identity(hist: list[torch.Tensor], seeds: list[int], n_steps: int,
                    record_interval: int, chunk_steps: int, max_batch: int, threshold: float,
                    max_bonds: list[float | None], bonds: list[np.ndarray],
                    extra: dict[str, Any] | None, stop_on_collision: bool = False) -> str:
    """What a resumable run's state must match (a JSON string; histories by hash)."""
    h = hashlib.sha256()
    for x in hist:
        h.update(x.numpy().astype(np.float32).tobytes())
    for b in bonds:
        h.update(np.asarray(b, dtype=np.int64).tobytes())
    doc = {
        "units": len(hist), "sizes": [int(x.shape[1]) for x in hist], "seeds": list(seeds),
        "n_steps": n_steps, "record_interval": record_interval, "chunk_steps": chunk_steps,
        "max_batch": max_batch, "collision_threshold_nm": threshold,
        "max_bond_nm": max_bonds, "histories_and_bonds_sha256": h.hexdigest(),
    }
    if stop_on_collision:  # only when set: states written before the option still match
        doc["stop_on_collision"] = True
    for key, value in (extra or {}).items():  # top level: a mismatch is named by its key
        doc.setdefault(key, value)
    return json.dumps(doc, sort_keys=True, default=str)


def upgrade_state_identity(path: str | os.PathLike, legacy: dict[str, Any],
                           current: dict[str, Any]) -> bool:
    """Carry a paused run's state across a change of what its identity records.

    If the state at ``path`` was written with the identity entries ``legacy`` (all equal)
    and has none of the keys of ``current``, replace the former by the latter (atomic rewrite)
    and return True; otherwise leave the file alone and return False (the usual check of
    :func:`run_units` then accepts or refuses it). ``cgml evaluate`` uses this for states
    written before the model's identity became weights + statistics + resolved config
    (:func:`openmm_cgml.export.checkpoint.run_identity`): such a state matched the whole of
    the model's files, so it matches the finer identity too.
    """
    path = Path(path)
    if not path.is_file():
        return False
    st = _load_state(path, None)
    doc = json.loads(st["identity"])
    if any(k in doc for k in current) or any(
            doc.get(k) != json.loads(json.dumps(v, default=str)) for k, v in legacy.items()):
        return False
    for k in legacy:
        doc.pop(k)
    doc.update(current)
    st["identity"] = json.dumps(doc, sort_keys=True, default=str)
    with atomic_path(path) as tmp:
        torch.save(st, tmp)
    return True


def _load_state(path: Path, identity: str | None) -> dict[str, Any]:
    """The rollout state in ``path``, checked against ``identity`` (None: not checked)."""
    try:
        st = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a foreign or damaged file
        raise ValueError(f"{path}: not a readable rollout state ({err}); delete it to start "
                         "the rollouts afresh") from None
    if not isinstance(st, dict) or st.get("format") != "openmm-cgml rollout state 1":
        raise ValueError(f"{path} is not an openmm-cgml rollout state; delete it or use "
                         "another output folder")
    if identity is not None and st["identity"] != identity:
        old, new = json.loads(st["identity"]), json.loads(identity)
        diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        raise ValueError(f"{path} holds rollouts of another run (they differ in: "
                         f"{', '.join(diff)}); use the same command to continue them, or "
                         "delete the file / choose another output folder to start afresh")
    return st


def write_rollout_files(
    result: RolloutResult,
    directory: str | os.PathLike,
    name: str,
    mapping_dict: dict[str, Any],
    atom_topology_pdb: str,
    attrs: dict[str, Any],
) -> list[Path]:
    """Write each replica as a trajectory file ``DIR/<name>.rep<r>.h5`` (CONTRACTS.md §3).

    The files carry ``name`` (so they group with the reference molecule), ``stride_ps`` =
    ``record_interval * timestep_ps``, ``steps_per_frame``, ``replica``, ``seed`` and the
    per-replica ``stability`` (JSON). Written atomically by the storage layer.
    """
    from openmm_cgml.reference.storage import append_frames, create_trajectory, set_attrs

    out: list[Path] = []
    stride = result.record_interval * result.timestep_ps
    for r, (x, st, seed) in enumerate(
        zip(result.frames, result.stability, result.seeds, strict=True)
    ):
        path = Path(directory) / f"{name}.rep{r}.h5"
        base = {
            "kind": attrs.get("kind", ""),
            "name": name,
            "temperature_K": attrs.get("temperature_K", 0.0),
            "stride_ps": stride,
            "fine_timestep_ps": result.timestep_ps,
            "seed": int(seed),
            "forcefield": attrs.get("forcefield", "openmm-cgml CG model"),
            "composition": attrs.get("composition"),
            "replica": r,
            "steps_per_frame": result.record_interval,
            "first_frame_is_reference": 1,
            "source": "openmm-cgml evaluate rollout",
        }
        create_trajectory(
            path, mapping=mapping_dict, atom_topology_pdb=atom_topology_pdb, attrs=base
        )
        append_frames(path, x.astype(np.float32), np.arange(len(x)) * stride)
        set_attrs(path, stability=st)
        out.append(path)
    return out
