"""The close-contact tail of one model step of `polymer-comb-equivariant`, from reference
histories of the 40 test chains, per refinement setting, against the reference frames.

Collisions (non-bonded beads < 0.1 nm) are the far end of this tail; its body (pairs at
0.2-0.35 nm, where the reference, LJ sigma 0.5 nm, never goes) is measurable with a few
thousand steps, where the collisions themselves (~1e-4 per molecule-step) would need 10^5.

    python tail.py DATA OUT.json [--units 2000] [--settings shipped,nw,...]

Per setting: the per-molecule minimum non-bonded distance of the candidate (sampled Gaussian,
before refinement) and of the step's output; quantiles and the fraction below 0.2 / 0.3 nm;
the mean squared bead displacement of the step, also per composition class of the chain
(f_S1 of DATA/splits.json: coils < 0.2 < blocky < 0.6 < globules). Settings with
``"start": "true"`` walk the refinement from the true next frame blurred by the ladder top
instead of the sampled candidate (the forward process the score network was trained on).
Same units, acceleration draws and refinement draws for every setting (seed 0). Units nm.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from chains import load_chains

import openmm_cgml
from openmm_cgml.analysis import closest_nonbonded_distance
from openmm_cgml.export import build_step_module
from openmm_cgml.models.sampling import widened_std

SETTINGS = {
    "shipped": {},
    "nw": {"widen": False},
    "nw06": {"widen": False, "sigma_max": 0.6, "levels": 10},
    "nw06_ddim": {"widen": False, "sigma_max": 0.6, "levels": 10, "sampler": "ddim"},
    "nw_l16": {"widen": False, "levels": 16},
    "lang3": {"widen": False, "sampler": "langevin", "steps": 3},
    "none": {"widen": False, "levels": 0},
    # the ancestral walk with the posterior noise of the Gaussian forward process (SMLD
    # ancestral sampling: sqrt(d) * sigma' / sigma instead of the reverse-SDE Euler sqrt(d))
    "nw06_post": {"widen": False, "sigma_max": 0.6, "levels": 10, "sampler": "posterior"},
    "nw_post": {"widen": False, "sampler": "posterior"},
    "post": {"sampler": "posterior"},
    "post06": {"sampler": "posterior", "sigma_max": 0.6, "levels": 10},
    "post10": {"sampler": "posterior", "sigma_max": 1.0, "levels": 12},
    # added 2026-12-05 (../polymer_cpu_2026-12-05/README.md):
    # the refinement walk started from the true next frame blurred by the ladder top (the
    # forward process exactly): a perfect score returns the reference's next-frame density
    "true_post": {"sampler": "posterior", "start": "true"},
    "true_anc": {"start": "true"},
    "true06_post": {"sampler": "posterior", "sigma_max": 0.6, "levels": 10, "start": "true"},
    # the analytic reverse variance (sampler "analytic", Analytic-DPM in the variance-
    # exploding form: the posterior step's noise plus (d / sigma^2)^2 * Gamma, Gamma =
    # sigma^2 - sigma^4 * mean(score^2) per molecule)
    "true_ana": {"sampler": "analytic", "start": "true"},
    "true06_ana": {"sampler": "analytic", "sigma_max": 0.6, "levels": 10, "start": "true"},
    "nw_ana": {"sampler": "analytic", "widen": False},
    "ana": {"sampler": "analytic"},
    "ana06": {"sampler": "analytic", "sigma_max": 0.6, "levels": 10},
    "corr_ana": {"noise_correlation": 0.316, "sampler": "analytic"},
    "corr_nw_ana": {"noise_correlation": 0.316, "widen": False, "sampler": "analytic"},
    # bond-graph correlated noise (lambda0 = 0.316, fitted for polymer-comb on the 140 train
    # chains, ../h200_2026-12-03d/README.md); the candidate summary assumes independent noise
    "corr": {"noise_correlation": 0.316},
    "corr_nw": {"noise_correlation": 0.316, "widen": False},
    "corr_post": {"noise_correlation": 0.316, "sampler": "posterior"},
    "corr_nw_post": {"noise_correlation": 0.316, "widen": False, "sampler": "posterior"},
}
Q = [0.001, 0.01, 0.05, 0.5]


def min_nonbonded(x: torch.Tensor, sizes: list[int], bonds: list[np.ndarray]) -> np.ndarray:
    """Closest non-bonded approach (nm) of each unit of the batched positions x [N, 3]."""
    ends = np.cumsum(sizes)
    return np.array([closest_nonbonded_distance(x[e - n:e].double().numpy(), b)
                     for n, e, b in zip(sizes, ends, bonds, strict=True)])


def summary(d: np.ndarray) -> dict:
    return {"quantiles": dict(zip(map(str, Q), np.quantile(d, Q).round(4).tolist(), strict=True)),
            "below_0.1": float((d < 0.1).mean()), "below_0.2": float((d < 0.2).mean()),
            "below_0.3": float((d < 0.3).mean())}


def composition_class(data: str, names: list[str]) -> list[str]:
    """Class of each chain by its f_S1 (splits.json of DATA): the classes of
    ../h200_2026-12-04/analyse.py."""
    comp = json.loads((Path(data) / "splits.json").read_text())["compositions"]
    f = [comp[f"{n}.h5"]["f_S1"] for n in names]
    return ["coils" if x < 0.2 else "globules" if x > 0.6 else "blocky" for x in f]


def msd_by_class(x: torch.Tensor, x0: torch.Tensor, sizes: list[int],
                 unit_class: list[str]) -> dict[str, float]:
    """Mean squared bead displacement (nm^2) of one step, per composition class."""
    d2 = ((x - x0) ** 2).sum(-1).double().numpy()
    per_unit = np.split(d2, np.cumsum(sizes)[:-1])
    out: dict[str, list[np.ndarray]] = {}
    for c, v in zip(unit_class, per_unit, strict=True):
        out.setdefault(c, []).append(v)
    return {c: float(np.concatenate(v).mean()) for c, v in sorted(out.items())}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("out")
    ap.add_argument("--units", type=int, default=2000)
    ap.add_argument("--settings", default=",".join(SETTINGS))
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    rng = np.random.default_rng(0)
    names, refs, mappings, frames = load_chains(args.data)
    out: dict = {"reference": summary(np.concatenate([
        closest_nonbonded_distance(f.astype(np.float64), refs[n].bonds)
        for n, f in zip(names, frames, strict=True)]))}
    out["reference"]["frames"] = sum(len(f) for f in frames)
    chains = rng.integers(len(names), size=args.units)
    starts = rng.integers(frames[0].shape[0] - 2, size=args.units)  # the next frame exists
    sizes = [frames[c].shape[1] for c in chains]
    hist = torch.as_tensor(np.concatenate([frames[c][w:w + 2] for c, w in
                                           zip(chains, starts, strict=True)], axis=1))
    ubonds = [refs[names[c]].bonds for c in chains]
    n = hist.shape[1]
    gen = torch.Generator().manual_seed(0)
    noise_all = torch.randn(40, n, 3, generator=gen)
    # the settings are changes to the model's sampler of 2026-12-04/05 (independent noise,
    # ancestral walk), which stopped being its default on 2026-12-05
    base = openmm_cgml.load_model("polymer-comb-equivariant").with_refinement(
        sampler="ancestral", noise_correlation=0.0)
    maps = [mappings[c] for c in chains]
    cell = torch.zeros(3, 3)
    nxt = torch.as_tensor(np.concatenate([frames[c][w + 2] for c, w in
                                          zip(chains, starts, strict=True)], axis=0))
    # mean squared displacement of a bead in one step (nm^2): the reference's next frame
    out["reference"]["msd_per_step_nm2"] = float(((nxt - hist[-1]) ** 2).sum(-1).mean())
    chain_class = composition_class(args.data, names)
    unit_class = [chain_class[c] for c in chains]
    out["reference"]["msd_by_class_nm2"] = msd_by_class(nxt, hist[-1], sizes, unit_class)
    print("reference", json.dumps(out["reference"]), flush=True)
    for name in args.settings.split(","):
        t = time.time()
        ch = dict(SETTINGS[name])
        start = ch.pop("start", "model")
        over = base.with_refinement(**ch)._refinement_overrides
        sm = build_step_module(base.network, maps, **over)
        mean, std, _ = sm.model.dynamics(sm.bead_embeddings, hist, sm.cg_bonds, sm.batch, cell)
        dt = sm.timestep_ps
        if sm.widen:
            std = widened_std(std, sm.sigmas[0] / (dt * dt))
        cand = hist[-1] + (hist[-1] - hist[-2]) + (mean + std * noise_all[0]) * dt * dt
        if start == "true":
            cand = nxt + sm.sigmas[0] * noise_all[0]
            _, _, latent = sm.model.dynamics(sm.bead_embeddings, hist, sm.cg_bonds, sm.batch,
                                             cell)
            x = sm.refine(cand, latent, hist, cell, noise_all)
        else:
            x = sm(hist, noise_all[:sm.noise_draws], torch.zeros(n, 3), cell)
        res = {"changes": SETTINGS[name], "network_calls": 1 + sm.noise_draws - 1,
               "candidate": summary(min_nonbonded(cand, sizes, ubonds)),
               "output": summary(min_nonbonded(x, sizes, ubonds)), "wall_s": time.time() - t,
               "msd_per_step_nm2": float(((x - hist[-1]) ** 2).sum(-1).mean()),
               "msd_by_class_nm2": msd_by_class(x, hist[-1], sizes, unit_class)}
        out[name] = res
        print(name, json.dumps(res), flush=True)
        if Path(args.out).is_file():  # keep the settings of earlier invocations
            out = {**json.loads(Path(args.out).read_text()), **out}
        tmp = Path(args.out + ".tmp")
        tmp.write_text(json.dumps(out, indent=1) + "\n")
        tmp.replace(args.out)


if __name__ == "__main__":
    main()
