"""OpenMM reporters for CG runs: a CSV log (Rg, collisions, speed) and a tqdm progress bar."""

from __future__ import annotations

import csv
import os
import time
from typing import Any

import numpy as np
import openmm.unit as u
from scipy.spatial import cKDTree


def molecule_radii_of_gyration(positions: np.ndarray, masses: np.ndarray,
                               molecules: np.ndarray, num_molecules: int) -> np.ndarray:
    """Mass-weighted radius of gyration (nm) of each molecule -> ``[M]``.

    ``positions [N, 3]`` nm, ``masses [N]`` amu, ``molecules [N]`` index 0..M-1.
    """
    total = np.bincount(molecules, weights=masses, minlength=num_molecules)
    centre = np.stack([np.bincount(molecules, weights=masses * positions[:, a],
                                   minlength=num_molecules) for a in range(3)], 1)
    centre /= total[:, None]
    sq = masses * np.sum((positions - centre[molecules]) ** 2, axis=1)
    return np.sqrt(np.bincount(molecules, weights=sq, minlength=num_molecules) / total)


class CGLogReporter:
    """Write a CSV log of a CG simulation: step, time, Rg, collisions, speed.

    Columns: ``step``, ``time_ps``, ``rg_nm`` (mass-weighted radius of gyration; with several
    molecules the mean over molecules), ``collisions`` (non-bonded bead pairs of one molecule
    closer than ``collision_threshold_nm``; CG-bonded pairs and pairs of different molecules
    excluded), ``min_distance_nm`` (closest such pair within 1 nm, NaN if none),
    ``mean_bond_nm`` / ``max_bond_nm`` (mean and longest CG bond, NaN without bonds),
    ``wall_s`` (seconds since this reporter was created), ``ns_per_day`` (since the previous
    report). ``rg_per_molecule`` keeps every report's ``[M]`` radii of gyration (nm),
    ``max_bond_per_molecule`` every report's ``[M]`` longest bond (nm; NaN: no bond).

    Args:
        file: CSV path; appended to when ``append`` (a resumed run), else overwritten.
        report_interval: steps between reports.
        masses: bead masses ``[N]`` (amu). bonds: CG bonds ``[E, 2]`` excluded from collisions.
        molecules: molecule index of each bead ``[N]`` (int, 0..M-1; default: one molecule),
            e.g. independent replicas in one System.
    """

    columns = ("step", "time_ps", "rg_nm", "collisions", "min_distance_nm", "mean_bond_nm",
               "max_bond_nm", "wall_s", "ns_per_day")

    def __init__(self, file: str | os.PathLike, report_interval: int, masses: np.ndarray,
                 bonds: np.ndarray | None = None, collision_threshold_nm: float = 0.1,
                 append: bool = False, molecules: np.ndarray | None = None) -> None:
        if report_interval < 1:
            raise ValueError("report_interval must be >= 1 step")
        self.interval = int(report_interval)
        self.masses = np.asarray(masses, dtype=np.float64)
        n = len(self.masses)
        self.molecules = (np.zeros(n, dtype=np.int64) if molecules is None
                          else np.asarray(molecules, dtype=np.int64).reshape(-1))
        if self.molecules.shape != (n,) or (n and self.molecules.min() < 0):
            raise ValueError(f"molecules must give a non-negative index for each of the {n} "
                             f"beads; got shape {self.molecules.shape}")
        self.num_molecules = int(self.molecules.max()) + 1 if n else 0
        b = np.sort(np.asarray(bonds if bonds is not None else [], dtype=np.int64).reshape(-1, 2),
                    axis=1)
        self._bond_keys = np.unique(b[:, 0] * n + b[:, 1])
        self._bonds = b
        self.rg_per_molecule: list[np.ndarray] = []
        self.max_bond_per_molecule: list[np.ndarray] = []
        self.threshold = float(collision_threshold_nm)
        exists = os.path.exists(file) and os.path.getsize(file) > 0
        self._handle = open(file, "a" if append else "w", newline="")  # noqa: SIM115
        self._writer = csv.writer(self._handle)
        if not (append and exists):
            self._writer.writerow(self.columns)
            self._handle.flush()
        self._start = time.perf_counter()
        self._last: tuple[float, float] | None = None
        self.rows: list[dict[str, float]] = []

    def describeNextReport(self, simulation: Any) -> tuple:  # noqa: N802 (OpenMM API)
        steps = self.interval - simulation.currentStep % self.interval
        return (steps, True, False, False, False, None)

    def report(self, simulation: Any, state: Any) -> None:
        x = state.getPositions(asNumpy=True).value_in_unit(u.nanometer)
        t_ps = state.getTime().value_in_unit(u.picosecond)
        now = time.perf_counter()
        wall = now - self._start
        speed = float("nan")
        if self._last is not None and now > self._last[1]:
            speed = (t_ps - self._last[0]) * 1e-3 / ((now - self._last[1]) / 86400.0)
        self._last = (t_ps, now)
        pairs = cKDTree(x).query_pairs(1.0, output_type="ndarray")  # i < j
        if len(pairs):
            keep = ~np.isin(pairs[:, 0] * len(x) + pairs[:, 1], self._bond_keys)
            keep &= self.molecules[pairs[:, 0]] == self.molecules[pairs[:, 1]]
            pairs = pairs[keep]
        if len(pairs):
            dist = np.linalg.norm(x[pairs[:, 0]] - x[pairs[:, 1]], axis=1)
            collisions = int(np.count_nonzero(dist < self.threshold))
            dmin = float(dist.min())
        else:
            collisions, dmin = 0, float("nan")
        rg = molecule_radii_of_gyration(x, self.masses, self.molecules, self.num_molecules)
        self.rg_per_molecule.append(rg)
        longest = np.full(self.num_molecules, np.nan)
        mean_bond = max_bond = float("nan")
        if len(self._bonds):
            lengths = np.linalg.norm(x[self._bonds[:, 0]] - x[self._bonds[:, 1]], axis=1)
            longest = np.full(self.num_molecules, -np.inf)
            np.maximum.at(longest, self.molecules[self._bonds[:, 0]], lengths)
            longest[np.isneginf(longest)] = np.nan
            mean_bond, max_bond = float(lengths.mean()), float(lengths.max())
        self.max_bond_per_molecule.append(longest)
        row = {"step": int(simulation.currentStep), "time_ps": t_ps,
               "rg_nm": float(rg.mean()), "collisions": collisions,
               "min_distance_nm": dmin, "mean_bond_nm": mean_bond, "max_bond_nm": max_bond,
               "wall_s": wall, "ns_per_day": speed}
        self.rows.append(row)
        self._writer.writerow([row[c] for c in self.columns])
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


class ProgressReporter:
    """A tqdm progress bar over model steps (updated every ``report_interval`` steps)."""

    def __init__(self, total_steps: int, report_interval: int, initial: int = 0,
                 timestep_ps: float | None = None, disable: bool = False) -> None:
        from tqdm import tqdm

        self.interval = max(1, int(report_interval))
        self.bar = tqdm(total=int(total_steps), initial=int(initial), unit="step",
                        desc="cgml simulate", disable=disable, dynamic_ncols=True)
        self._last = int(initial)
        self.timestep_ps = timestep_ps

    def describeNextReport(self, simulation: Any) -> tuple:  # noqa: N802 (OpenMM API)
        steps = self.interval - simulation.currentStep % self.interval
        return (steps, False, False, False, False, None)

    def report(self, simulation: Any, state: Any) -> None:
        step = int(simulation.currentStep)
        self.bar.update(step - self._last)
        self._last = step
        if self.timestep_ps:
            self.bar.set_postfix(t=f"{step * self.timestep_ps / 1000:.3g} ns", refresh=False)

    def close(self) -> None:
        self.bar.close()
