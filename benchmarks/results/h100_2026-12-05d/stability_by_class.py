"""The 10^5-step stability run by composition class: survival (no collision, no blow-up) after
2,000, 10,000, 50,000 and 100,000 model steps, and each chain's first collision step, from
the run's metrics.json (`python stability_by_class.py stability_metrics.json`)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "h200_2026-12-05"))
from analyse import composition_classes  # noqa: E402

from openmm_cgml.evaluation.metrics import stable_fraction_by_steps  # noqa: E402

CHECKPOINTS = (2_000, 10_000, 50_000, 100_000)


def main(path: str) -> None:
    systems = json.loads(Path(path).read_text())["systems"]
    names = sorted(systems)
    classes = composition_classes(names)
    runs = {n: systems[n]["cg"]["stability"] for n in names}  # one rollout per chain
    header = "class".ljust(24) + "chains".rjust(7) + "".join(
        f"{f'stable at {c:,}':>20}" for c in CHECKPOINTS)
    print(header)
    for cls in [*sorted(set(classes)), "all"]:
        group = [n for n, c in zip(names, classes, strict=True) if cls in ("all", c)]
        row = cls.ljust(24) + f"{len(group):7d}"
        alive = stable_fraction_by_steps([r for n in group for r in runs[n]], list(CHECKPOINTS))
        for c in CHECKPOINTS:
            row += f"{f'{round(alive[str(c)] * len(group))} ({alive[str(c)]:.2f})':>20}"
        print(row)
    print("\nfirst unstable step per chain (- : stable to the end)")
    for n, c in zip(names, classes, strict=True):
        (run,) = runs[n]
        steps = [s for s in (run["first_collision_step"], run["blowup_step"]) if s >= 0]
        print(f"{n}  {c:24s} {min(steps) if steps else '-'}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(HERE / "stability_metrics.json"))
