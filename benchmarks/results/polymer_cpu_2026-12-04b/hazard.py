"""Collision hazard over rollout time, from the per-rollout first_collision_step in the
metrics.json files of an evaluation (40 test chains x 4 rollouts x 2,000 steps, H200).

    python hazard.py METRICS.json [...]

Prints, per file group, the hazard (first collisions per rollout-step at risk) in step bins:
a constant hazard from step 1 (histories still near the reference) means the collisions come
from single steps of the model, a hazard growing with time means the rollout drifts away from
the reference states first.
"""
import json
import sys

import numpy as np

BINS = [0, 50, 200, 500, 1000, 2000]


def hazard(first: np.ndarray, done: np.ndarray, steps: int) -> list[tuple[int, int, int, float]]:
    """first: first collision step per rollout (-1: none); done: steps it completed (a
    blown-up rollout stops early and is at risk only until then)."""
    out = []
    for a, b in zip(BINS, BINS[1:], strict=False):
        if a >= steps:
            break
        b = min(b, steps)
        last = np.where(first >= 0, first, done)  # the last step at risk
        live = last > a
        events = int(((first > a) & (first <= b)).sum())
        at_risk = int((np.minimum(last[live], b) - a).sum())
        out.append((a, b, events, events / at_risk if at_risk else float("nan")))
    return out


for path in sys.argv[1:]:
    d = json.load(open(path))
    first, done, steps = [], [], 0
    for s in d["systems"].values():
        for st in s["cg"]["stability"]:
            first.append(st["first_collision_step"])
            done.append(st["steps_completed"])
            steps = max(steps, st["steps_checked"])
    first, done = np.array(first), np.array(done)
    rows = hazard(first, done, steps)
    print(f"{path}: {len(first)} rollouts, {int((first >= 0).sum())} with a collision")
    print("   " + "  ".join(f"({a},{b}] {e:3d} ev {h * 1e4:6.2f}e-4" for a, b, e, h in rows))
