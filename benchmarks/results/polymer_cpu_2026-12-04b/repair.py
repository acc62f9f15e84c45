"""Where do the collisions of `polymer-comb-equivariant` come from: the sampled Gaussian, or
the refinement? And which refinement setting repairs them?

For the 40 test chains (starting structures `data/polymer_start`, reference frames 5 tau
apart = one model step), from reference histories (k = 2 frames):

1. Stage A: one dynamics call per history, then many draws of the candidate
   ``x = x_k + v dt + (mean + std * e0) dt^2`` (plain or widened by the ladder top), checked for
   a collision (a non-bonded bead pair closer than 0.1 nm, the benchmark's definition).
2. Stage B: per refinement setting, the full model step (the eager StepModule, the same maths
   as the exported one) on colliding candidates (same e0, fresh refinement noise, R repeats)
   and on random candidates: the fraction that still collides / that collides afterwards.

A step then collides with probability p_cand * fail + (1 - p_cand) * create.

    python repair.py DATA OUT.json [--windows 9] [--draws 4000] [--colliding 300] [--random 3000]

Units: nm, ps. Seeded (numpy/torch seed 0).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from chains import load_chains
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import shortest_path

import openmm_cgml
from openmm_cgml.export import build_step_module

THRESHOLD = 0.1  # nm
SETTINGS = {
    # name: (with_refinement changes)
    "shipped": {},
    "nw": {"widen": False},
    "nw06": {"widen": False, "sigma_max": 0.6, "levels": 10},
    "nw06_l20": {"widen": False, "sigma_max": 0.6, "levels": 20},
    "nw03_l16": {"widen": False, "levels": 16},
    "nw06_ddim": {"widen": False, "sigma_max": 0.6, "levels": 10, "sampler": "ddim"},
}


def graph_separation(bonds: np.ndarray, n: int) -> np.ndarray:
    a = coo_matrix((np.ones(len(bonds)), (bonds[:, 0], bonds[:, 1])), shape=(n, n))
    return shortest_path(a, directed=False, unweighted=True)


def colliding(x: torch.Tensor, nonbonded: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x [S, n, 3] nm -> (collides [S] bool, min non-bonded distance [S] nm)."""
    d = torch.cdist(x, x)
    d = torch.where(nonbonded, d, torch.full_like(d, 1e9))
    dmin = d.flatten(1).min(1).values
    return dmin < THRESHOLD, dmin


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("out")
    ap.add_argument("--windows", type=int, default=9)
    ap.add_argument("--draws", type=int, default=4000)
    ap.add_argument("--colliding", type=int, default=300)
    ap.add_argument("--random", type=int, default=3000)
    ap.add_argument("--repeats", type=int, default=4)
    ap.add_argument("--settings", default=",".join(SETTINGS))
    args = ap.parse_args()
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    torch.set_grad_enabled(False)

    names, refs, mappings, frames = load_chains(args.data)
    sizes = [f.shape[1] for f in frames]
    starts = np.concatenate([[0], np.cumsum(sizes)])
    sep = [graph_separation(refs[n].bonds, s) for n, s in zip(names, sizes, strict=True)]
    nonbonded = [torch.as_tensor((s > 1) & np.triu(np.ones_like(s, bool), 1)) for s in sep]

    # the settings are changes to the model's sampler of 2026-12-04/05 (independent noise,
    # ancestral walk), which stopped being its default on 2026-12-05
    base = openmm_cgml.load_model("polymer-comb-equivariant").with_refinement(
        sampler="ancestral", noise_correlation=0.0)
    net = base.network
    sm0 = build_step_module(net, mappings, sigmas=[])
    dt = sm0.timestep_ps
    top = float(build_step_module(net, mappings[:1]).sigmas[0])  # shipped ladder top (nm)
    cell = torch.zeros(3, 3)
    windows = np.linspace(0, frames[0].shape[0] - 2, args.windows).round().astype(int)

    # ---- stage A: candidates
    out: dict = {"threshold_nm": THRESHOLD, "dt_ps": dt, "widen_top_nm": top,
                 "windows": windows.tolist(), "draws": args.draws, "chains": len(names)}
    pools: dict[str, list] = {"plain": [], "widened": []}
    counts = {"plain": 0, "widened": 0}
    seps = {"plain": [], "widened": []}
    t0 = time.time()
    for w in windows:
        hist = torch.as_tensor(np.concatenate([f[w:w + 2] for f in frames], axis=1))
        mean, std, _ = sm0.model.dynamics(sm0.bead_embeddings, hist, sm0.cg_bonds, sm0.batch, cell)
        x0 = hist[-1] + (hist[-1] - hist[-2])  # x_k + v dt
        for kind in ("plain", "widened"):
            s = std if kind == "plain" else torch.sqrt(std * std + (top / dt ** 2) ** 2)
            for c in range(len(names)):
                a, b = starts[c], starts[c + 1]
                e0 = torch.randn(args.draws, b - a, 3)
                x = x0[a:b] + (mean[a:b] + s[a:b] * e0) * dt * dt
                hit, _ = colliding(x, nonbonded[c])
                counts[kind] += int(hit.sum())
                for i in torch.nonzero(hit).flatten().tolist():
                    d = torch.cdist(x[i], x[i])
                    ii, jj = np.nonzero((d.numpy() < THRESHOLD) & nonbonded[c].numpy())
                    seps[kind] += [int(sep[c][p, q]) for p, q in zip(ii, jj, strict=True)]
                    pools[kind].append((c, int(w), e0[i].clone()))
    total = len(windows) * len(names) * args.draws
    for kind in pools:
        out[f"candidate_{kind}"] = {
            "collision_per_molecule_step": counts[kind] / total,
            "collision_per_bead_step": counts[kind] / (len(windows) * args.draws * starts[-1]),
            "pair_graph_separation": {str(k): seps[kind].count(k)
                                      for k in sorted(set(seps[kind]))},
        }
    cands = {k: out[f"candidate_{k}"] for k in pools}
    print(f"stage A {time.time() - t0:.0f} s:", json.dumps(cands))

    # ---- stage B: refinement
    def run(units: list[tuple[int, int, torch.Tensor]], changes: dict, repeats: int) -> dict:
        units = [u for u in units for _ in range(repeats)]
        maps = [mappings[c] for c, _, _ in units]
        over = base.with_refinement(**changes)._refinement_overrides
        sm = build_step_module(net, maps, **over)
        hist = torch.as_tensor(np.concatenate([frames[c][w:w + 2] for c, w, _ in units], axis=1))
        n = hist.shape[1]
        noise = torch.randn(sm.noise_draws, n, 3)
        noise[0] = torch.cat([e for _, _, e in units])
        t = time.time()
        x = sm(hist, noise, torch.zeros(n, 3), cell)
        wall = time.time() - t
        hits, dmins, pair_seps = 0, [], []
        off = 0
        for c, _, _ in units:
            m = sizes[c]
            xi = x[off:off + m].unsqueeze(0)
            hit, dmin = colliding(xi, nonbonded[c])
            if bool(hit[0]):
                hits += 1
                d = torch.cdist(xi[0], xi[0]).numpy()
                ii, jj = np.nonzero((d < THRESHOLD) & nonbonded[c].numpy())
                pair_seps += [int(sep[c][p, q]) for p, q in zip(ii, jj, strict=True)]
            dmins.append(float(dmin[0]))
            off += m
        return {"units": len(units), "collide_after": hits / len(units), "hits": hits,
                "min_distance_quantiles_nm": np.quantile(dmins, [0.001, 0.01, 0.1, 0.5]).tolist(),
                "pair_graph_separation": {str(k): pair_seps.count(k)
                                          for k in sorted(set(pair_seps))},
                "network_calls": 1 + int(sm.sigmas.shape[0]), "wall_s": wall}

    for name in args.settings.split(","):
        changes = SETTINGS[name]
        kind = "widened" if changes.get("widen", True) else "plain"
        pool = pools[kind]
        pick = rng.choice(len(pool), size=min(args.colliding, len(pool)), replace=False)
        coll = [pool[i] for i in pick]
        rand = [(int(rng.integers(len(names))), int(rng.choice(windows)), None)
                for _ in range(args.random)]
        rand = [(c, w, torch.randn(sizes[c], 3)) for c, w, _ in rand]
        t = time.time()
        res = {"changes": changes, "candidates": kind,
               "colliding": run(coll, changes, args.repeats), "random": run(rand, changes, 1)}
        p = out[f"candidate_{kind}"]["collision_per_molecule_step"]
        fail, create = res["colliding"]["collide_after"], res["random"]["collide_after"]
        res["predicted_collision_per_molecule_step"] = p * fail + (1 - p) * create
        res["predicted_collision_per_bead_step"] = res["predicted_collision_per_molecule_step"] \
            * len(names) / starts[-1]
        out[name] = res
        print(f"{name} ({time.time() - t:.0f} s): fail {fail:.3f}  create {create:.2e}  "
              f"-> {res['predicted_collision_per_bead_step']:.2e} per bead-step", flush=True)
        tmp = Path(args.out + ".tmp")
        tmp.write_text(json.dumps(out, indent=1) + "\n")
        tmp.replace(args.out)


if __name__ == "__main__":
    main()
