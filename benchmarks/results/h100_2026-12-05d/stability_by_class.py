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

CHECKPOINTS = (2_000, 10_000, 50_000, 100_000)


def main(path: str) -> None:
    systems = json.loads(Path(path).read_text())["systems"]
    names = sorted(systems)
    classes = composition_classes(names)
    # the step a rollout stopped being stable (first collision or blow-up); None: it finished
    ended: dict[str, int | None] = {}
    for n in names:
        (run,) = systems[n]["cg"]["stability"]
        steps = [s for s in (run["first_collision_step"], run["blowup_step"]) if s >= 0]
        ended[n] = min(steps) if steps else None
    header = "class".ljust(24) + "chains".rjust(7) + "".join(
        f"{f'stable at {c:,}':>20}" for c in CHECKPOINTS)
    print(header)
    for cls in [*sorted(set(classes)), "all"]:
        group = [n for n, c in zip(names, classes, strict=True) if cls in ("all", c)]
        row = cls.ljust(24) + f"{len(group):7d}"
        for c in CHECKPOINTS:
            alive = sum(1 for n in group if ended[n] is None or ended[n] > c)
            row += f"{f'{alive} ({alive / len(group):.2f})':>20}"
        print(row)
    print("\nfirst unstable step per chain (- : stable to the end)")
    for n, c in zip(names, classes, strict=True):
        print(f"{n}  {c:24s} {ended[n] if ended[n] is not None else '-'}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(HERE / "stability_metrics.json"))
