"""OpenMM reporters for CG runs: a CSV log (Rg, collisions, speed) and a tqdm progress bar."""

from __future__ import annotations

import csv
import os
import time
from typing import Any

import numpy as np
import openmm.unit as u
from scipy.spatial import cKDTree


def radius_of_gyration(positions: np.ndarray, masses: np.ndarray) -> float:
    """Mass-weighted radius of gyration (nm) of ``positions [N, 3]`` nm with ``masses [N]``."""
    w = masses / masses.sum()
    centre = w @ positions
    return float(np.sqrt(w @ np.sum((positions - centre) ** 2, axis=1)))


class CGLogReporter:
    """Write a CSV log of a CG simulation: step, time, Rg, collisions, speed.

    Columns: ``step``, ``time_ps``, ``rg_nm`` (mass-weighted over all beads), ``collisions``
    (non-bonded bead pairs closer than ``collision_threshold_nm``; CG-bonded pairs excluded),
    ``min_distance_nm`` (closest non-bonded pair within 1 nm, NaN if none), ``wall_s``
    (seconds since this reporter was created), ``ns_per_day`` (since the previous report).

    Args:
        file: CSV path; appended to when ``append`` (a resumed run), else overwritten.
        report_interval: steps between reports.
        masses: bead masses ``[N]`` (amu). bonds: CG bonds ``[E, 2]`` excluded from collisions.
    """

    columns = ("step", "time_ps", "rg_nm", "collisions", "min_distance_nm", "wall_s",
               "ns_per_day")

    def __init__(self, file: str | os.PathLike, report_interval: int, masses: np.ndarray,
                 bonds: np.ndarray | None = None, collision_threshold_nm: float = 0.1,
                 append: bool = False) -> None:
        if report_interval < 1:
            raise ValueError("report_interval must be >= 1 step")
        self.interval = int(report_interval)
        self.masses = np.asarray(masses, dtype=np.float64)
        self.bonded = {(int(min(i, j)), int(max(i, j)))
                       for i, j in np.asarray(bonds if bonds is not None else [],
                                              dtype=np.int64).reshape(-1, 2)}
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
        pairs = cKDTree(x).query_pairs(1.0, output_type="ndarray")
        if len(pairs):
            keep = np.array([(int(i), int(j)) not in self.bonded for i, j in pairs], dtype=bool)
            pairs = pairs[keep]
        if len(pairs):
            dist = np.linalg.norm(x[pairs[:, 0]] - x[pairs[:, 1]], axis=1)
            collisions = int(np.count_nonzero(dist < self.threshold))
            dmin = float(dist.min())
        else:
            collisions, dmin = 0, float("nan")
        row = {"step": int(simulation.currentStep), "time_ps": t_ps,
               "rg_nm": radius_of_gyration(x, self.masses), "collisions": collisions,
               "min_distance_nm": dmin, "wall_s": wall, "ns_per_day": speed}
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
