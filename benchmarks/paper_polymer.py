"""The method's headline on the polymer benchmark, on compositions never seen in training.

For each model variant, CG rollouts of every *test* chain (a composition class absent from
training, see ``openmm_cgml.reference.polymer``) are compared with the chain's reference MD:

* r^2 (coefficient of determination, CG vs reference, identity line) of the mean radius of
  gyration and of the Rg^2 relaxation time across the test chains, and the MAE of each;
* collision rate per bead-step (non-bonded beads closer than 0.1 nm, every model step);
* fraction of rollouts stable for all ``--steps`` model steps (no collision, no blow-up);
* speed-up: simulated time per wall-clock second of the CG model over the reference MD of
  the same chain on the same device -- one chain alone, and all test chains together
  (reference: all test chains in one OpenMM System; CG: all test chains in one batched
  TorchScript step module). CG cost per step = timed calls of the exported module, on CUDA
  replayed as a CUDA graph like ``cgml simulate`` runs it (ordinary calls where the module
  is not graph-safe).

Variants (rows): ``full`` (the method as published: plain GNN, k = 20 frames, score
refinement as its config says: a model trained here uses the preset's ancestral walk, its
sampled Gaussian widened, from 0.3 nm),
``no_refinement`` (the same weights, refinement off), ``langevin`` (the same weights, the
method's annealed-Langevin refinement: 5 levels x 3 steps from 0.2 nm), ``ancestral`` /
``ddim`` (the same weights, that sampler from 0.6 nm; ``ancestral_widen``: with the sampled
Gaussian widened by the ladder top first; ``ancestral_widen_0.3``: the same from 0.3 nm),
``independent_noise`` (the same weights, the sampled noise independent per bead: the
method's diagonal Gaussian, without the bond-graph correlation fitted after training, see
``cgml fit-noise``), ``equivariant`` (PaiNN-style GNN, k frames), ``k2`` (plain GNN with
the minimal history, k = 2 frames = one velocity), ``equivariant_k2`` (the shipped
``polymer-comb-equivariant``) and ``equivariant_shifted`` /
``equivariant_k2_shifted`` (input noise drawn as one shift of all history frames). With
``--fit-noise`` a newly trained variant gets its noise correlation fitted on the training
chains right after training (off by default: on the 40 test chains the fitted correlation
made both r^2 worse, ``benchmarks/results/h200_2026-12-03d/``).
Published figures (plain GNN, 10^5-step rollouts): r^2 = 0.90 (Rg), 0.48 (relaxation time).

    python benchmarks/paper_polymer.py --quick                  # CPU, a few minutes
    python benchmarks/paper_polymer.py --data data/polymer --device cuda \\
        --train-steps 50000 --steps 100000 --replicas 4 --work runs/paper_polymer

For r^2 of the relaxation time, compare with long, independent reference runs of the test
chains rather than the training set's single runs (``--reference``; measured on the 40 test
chains: exact relaxation times would score r^2 0.65 against 8 copies x 8,000 tau,
``benchmarks/results/h200_2026-12-04/``)::

    cgml generate polymer --chains 200 --split-seed 0 --seed 1 --only test --copies 8 \
        --time 8000tau --equilibrate 1000tau --deterministic -o data/polymer_long
    python benchmarks/paper_polymer.py --data data/polymer --reference data/polymer_long ...

Everything goes under ``--work`` (data, models, per-variant reports); the table is printed and
the results are written as JSON (``--output``, default ``WORK/paper_polymer.json``). Trained
models found under ``WORK/models/<variant>/final`` are reused (delete them to retrain), and so
are finished rollouts (``WORK/eval*/<variant>/rollout_state_<key>.pt``, one per weights and
settings). Long rollouts can be spread over several calls with ``--max-wall``.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import importlib.util
import json
import math
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

if importlib.util.find_spec("openmm_cgml") is None:  # not installed: use the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from openmm_cgml.evaluation import (  # noqa: E402
    EvaluationSettings,
    environment_info,
    load_trajectories,
    resolve_files,
    rollout_molecules,
    run_evaluation,
)
from openmm_cgml.evaluation.report import write_metrics_json  # noqa: E402
from openmm_cgml.export.checkpoint import run_identity  # noqa: E402
from openmm_cgml.utils import atomic_write, fingerprint, seed_everything  # noqa: E402

PUBLISHED = {"rg_r2": 0.90, "tau_r2": 0.48}

QUICK = {
    "data": {
        "n_chains": 12,
        "production_tau": 600.0,
        "stride_tau": 5.0,
        "equilibration_tau": 50.0,
        "min_length": 12,
        "max_length": 24,
        "test_fraction": 0.34,
        "val_fraction": 0.1,
    },
    "model": {
        "hidden": 16,
        "layers": 2,
        "score_layers": 1,
        "embed_layers": 1,
        "history_length": 4,
        "cutoff_nm": 1.5,
        "num_rbf": 8,
        "avg_neighbors": 8.0,
        "noise_levels": 8,
        "refine_levels": 3,
        "refine_steps": 2,
        "refine_sigma_max": 0.6,
        "refine_sampler": "ddim",
        "input_noise_max": 2.0,
        "input_noise_min": 0.2,
    },
    "train": {
        "max_steps": 40,
        "batch_size": 8,
        "lr": 1e-3,
        "warmup_steps": 5,
        "device": "cpu",
        "log_every": 10,
        "val_every": 40,
        "val_batches": 2,
        "checkpoint_every": 40,
        "rollout_steps": 5,
        "rollout_molecules": 1,
    },
    "steps": 200,
    "replicas": 2,
    "record_interval": 1,
    "chunk_steps": 100,
    "speed_steps": 30,
    "reference_speed_steps": 2000,
    "num_workers": 0,
}

FULL = {
    "data": {
        "n_chains": 200,
        "production_tau": 10_000.0,
        "stride_tau": 5.0,
        "equilibration_tau": 1_000.0,
        "min_length": 20,
        "max_length": 100,
        "test_fraction": 0.2,
        "val_fraction": 0.1,
    },
    "model": {
        "hidden": 128,
        "layers": 7,
        "score_layers": 4,
        "embed_layers": 3,
        "history_length": 20,
        "cutoff_nm": 1.5,
        "num_rbf": 16,
        "avg_neighbors": 12.0,
        "noise_levels": 20,
        # DDIM (deterministic diffusion sampler) down 8 levels from 0.6 nm (the spread of the
        # sampled positions: the RMS bead displacement per 5 tau step is 0.75 nm) to
        # sigma_min: 9 network calls per model step; inputs noised with 0.2-2 x that
        # displacement. Measured on CPU (benchmarks/results/stability_cpu_2026-12-02.md):
        # median steps before a blow-up 26 with the authors' settings (0.01-0.1 input noise,
        # Langevin on the smallest levels), 152 with Langevin from 0.2 nm, and no blow-up in
        # 200 steps (10/10 rollouts) with this DDIM ladder.
        # Since 2026-12-03 new variants are rolled out like the shipped polymer-comb: the
        # sampled Gaussian widened by the ladder top, then the ancestral walk down the same 8
        # levels from 0.3 nm (chosen on the val chains; benchmarks/results/h200_2026-12-03b/).
        "refine_levels": 8,
        "refine_steps": 1,
        "refine_sigma_max": 0.3,
        "refine_sampler": "ancestral",
        "refine_widen": True,
        "input_noise_max": 2.0,
        "input_noise_min": 0.2,
    },
    "train": {
        "max_steps": 50_000,
        # ~120 beads per chain; a step is launch-bound on an H200, so 128 windows cost about
        # what 64 do
        "batch_size": 128,
        "lr": 5e-4,
        "warmup_steps": 500,
        "device": "auto",
        "amp": True,
        "log_every": 50,
        "val_every": 2000,
        "val_batches": 50,
        "checkpoint_every": 2000,
        "rollout_steps": 50,
        "rollout_molecules": 4,
    },
    "steps": 100_000,
    "replicas": 4,
    "record_interval": 10,
    "chunk_steps": 1000,
    "speed_steps": 200,
    "reference_speed_steps": 20_000,
    "num_workers": 4,  # DataLoader processes per training run (HDF5 reads + graph building)
}


def check_reference_set(data: Path, reference: Path, split: str) -> None:
    """``reference`` (a folder with splits.json) holds chains of ``data``'s ``split`` only, with
    the same compositions under the same names (SystemExit naming the first mismatch)."""
    import json

    path = reference / "splits.json"
    if not path.is_file():
        raise SystemExit(
            f"--reference {reference}: no splits.json; make it with `cgml generate polymer "
            f"--only {split} ...` using the --chains/--split-seed of {data}"
        )
    ours = json.loads((data / "splits.json").read_text())["compositions"]
    theirs = json.loads(path.read_text())
    by_name = {c["name"]: c for c in ours.values()}
    if not theirs.get(split):
        raise SystemExit(f"--reference {reference}: its splits.json lists no {split} chains")
    for fname in theirs[split]:
        comp = theirs["compositions"][fname]
        mine = by_name.get(comp["name"])
        if mine != comp:
            raise SystemExit(
                f"--reference {reference}: chain {comp['name']} ({fname}) is not the "
                f"{comp['name']} of {data} (a set made with other --chains/--split-seed?); "
                "regenerate it with the same --chains and --split-seed"
            )


def ensure_data(
    work: Path, data: Path | None, preset: dict[str, Any], seed: int, platform: str | None
) -> Path:
    """Use ``data`` (a polymer set with splits.json) or generate one under ``work/data``."""
    if data is not None:
        if not (data / "splits.json").is_file():
            raise FileNotFoundError(
                f"{data}/splits.json not found: make the set with "
                f"`cgml generate polymer -o {data}` or drop --data"
            )
        return data
    from openmm_cgml.reference.polymer import generate_polymer_dataset

    out = work / "data"
    # a finished set is reused; with its checkpoint still there the generator resumes
    # (and appends nothing when the run is complete)
    if (out / "splits.json").is_file() and not (out / "polymer_set.chk").exists():
        return out
    d = preset["data"]
    print(f"generating the polymer set in {out} ({d['n_chains']} chains) ...", flush=True)
    t0 = time.perf_counter()
    generate_polymer_dataset(
        out,
        n_chains=d["n_chains"],
        split_seed=seed,
        seed=seed,
        production_tau=d["production_tau"],
        stride_tau=d["stride_tau"],
        equilibration_tau=d["equilibration_tau"],
        min_length=d["min_length"],
        max_length=d["max_length"],
        test_fraction=d["test_fraction"],
        val_fraction=d["val_fraction"],
        platform=platform,
        progress=False,
    )
    print(f"  done in {time.perf_counter() - t0:.0f} s", flush=True)
    return out


VARIANTS = {
    "full": {"family": "plain"},
    "equivariant": {"family": "equivariant"},
    "k2": {"family": "plain", "history_length": 2},
    "equivariant_k2": {"family": "equivariant", "history_length": 2},
    # input noise as one random shift of all k history frames (rho = 1): the model learns to
    # pull positions back onto the chain's manifold without learning to damp clean velocities
    "equivariant_shifted": {"family": "equivariant", "input_noise_correlation": 1.0},
    "equivariant_k2_shifted": {
        "family": "equivariant",
        "history_length": 2,
        "input_noise_correlation": 1.0,
    },
}

#: table rows that reuse the weights of ``full`` with other inference settings:
#: (weights, the ModelConfig changes applied at export). ``full`` itself uses the settings of
#: its config (the shipped ``polymer-comb``: ancestral, widened, 8 levels from 0.3 nm); the
#: rows below spell out every refinement setting they depend on, whatever that config says.
ABLATIONS = {
    "no_refinement": ("full", {"refine_levels": 0}),
    # the method's own refinement: annealed Langevin, 5 levels x 3 steps from 0.2 nm
    "langevin": (
        "full",
        {
            "refine_sampler": "langevin",
            "refine_sigma_max": 0.2,
            "refine_levels": 5,
            "refine_steps": 3,
            "refine_widen": False,
        },
    ),
    "ancestral": (
        "full",
        {"refine_sampler": "ancestral", "refine_widen": False, "refine_sigma_max": 0.6},
    ),
    "ddim": ("full", {"refine_sampler": "ddim", "refine_widen": False, "refine_sigma_max": 0.6}),
    # the method's diagonal Gaussian: no bond-graph correlation of the sampled noise
    "independent_noise": ("full", {"noise_correlation": 0.0}),
    # the sampled Gaussian first widened by the ladder top (CPU: best relaxation times)
    "ancestral_widen": (
        "full",
        {"refine_sampler": "ancestral", "refine_widen": True, "refine_sigma_max": 0.6},
    ),
    # widened, from a lower ladder top (same cost; polymer-comb's setting since 2026-12-03)
    "ancestral_widen_0.3": (
        "full",
        {"refine_sampler": "ancestral", "refine_widen": True, "refine_sigma_max": 0.3},
    ),
}


def row_weights(row: str) -> str:
    """The trained variant whose weights the table row ``row`` uses."""
    return ABLATIONS[row][0] if row in ABLATIONS else row


def row_overrides(row: str, model: Any) -> dict[str, Any]:
    """Export overrides of the table row ``row`` for the loaded ``model`` (its config's
    ladder with the row's changes, checked by ModelConfig)."""
    if row not in ABLATIONS:
        return {}
    from openmm_cgml.export.options import config_overrides

    return config_overrides(model.config, ABLATIONS[row][1])


def train_variant(
    name: str,
    data: Path,
    work: Path,
    preset: dict[str, Any],
    seed: int,
    train_steps: int | None,
    device: str,
    fit_noise: bool = False,
) -> Path:
    """Train (or reuse) one variant; return its final checkpoint directory. With
    ``fit_noise`` a new model gets its noise correlation fitted on the training chains."""
    from openmm_cgml.training import TrainConfig, train

    out = work / "models" / name
    final = out / "final"
    if (final / "config.json").is_file():
        from openmm_cgml.models import load_checkpoint

        try:
            load_checkpoint(final)
        except (ValueError, KeyError, FileNotFoundError) as exc:
            print(
                f"[{name}] {final} cannot be loaded ({str(exc)[:120]}...): retraining", flush=True
            )
            shutil.rmtree(out)
        else:
            print(f"[{name}] reusing {final}", flush=True)
            return final
    model = {**preset["model"], **VARIANTS[name]}
    tr = dict(preset["train"])
    if train_steps is not None:
        tr["max_steps"] = train_steps
    if device != "auto":
        tr["device"] = "cpu" if device == "cpu" else "cuda"
    cfg = TrainConfig.from_dict(
        {
            "seed": seed,
            "output": str(out),
            "data": {
                "train": str(data),
                "train_split": "train",
                "val": str(data),
                "val_split": "val",
                "statistics_samples": 500,
                "num_workers": preset.get("num_workers", 0),
            },
            "model": model,
            "train": tr,
        }
    )
    print(
        f"[{name}] training {tr['max_steps']} steps ({model['family']}, "
        f"k={model['history_length']}) ...",
        flush=True,
    )
    t0 = time.perf_counter()
    train(cfg, progress=False)
    print(f"[{name}]   done in {time.perf_counter() - t0:.0f} s", flush=True)
    if fit_noise:
        fit_noise_correlation_of(final, data, device)
    return final


def fit_noise_correlation_of(checkpoint: Path, data: Path, device: str) -> float:
    """Fit the bond-graph noise correlation of a trained variant on the training chains
    (``cgml fit-noise CHECKPOINT DATA --split train --write``); returns lambda0."""
    from openmm_cgml.evaluation.noise_fit import fit_checkpoint_noise
    from openmm_cgml.training.distributed import pick_device

    fit = fit_checkpoint_noise(checkpoint, data, "train", device=pick_device(device).type,
                               write=True)
    print(
        f"[{checkpoint.parent.name}] noise correlation lambda0 = {fit.lambda0:g} "
        f"(gain {fit.gain_per_bead:+.3f} nats per bead-component, {fit.molecules} train chains)",
        flush=True,
    )
    return fit.lambda0


def reference_speed(
    reference: dict[str, Any], names: list[str], steps: int, platform: str | None
) -> dict[str, float]:
    """Reference MD speed (simulated ps per wall s) on the same device: one chain, and all
    ``names`` chains in one System, with the generator's force field and integrator."""
    import openmm
    from openmm import unit

    from openmm_cgml.reference import polymer as P
    from openmm_cgml.reference.allatom import select_platform
    from openmm_cgml.reference.storage import TrajectoryFile

    comps, positions = [], []
    for n in names:
        path = reference[n].files[0]
        with TrajectoryFile(path) as tf:
            comps.append(P.Composition.from_dict(tf.attrs["composition"]))
            pdb = tf.atom_topology()
            positions.append(np.asarray(pdb.positions.value_in_unit(unit.nanometer)))
    params = P.PolymerParameters()
    dt_ps = params.timestep * P.TAU_PS
    out: dict[str, float] = {}
    for label, sel in (("single", [0]), ("batched", list(range(len(comps))))):
        system, _, _ = P.build_polymer_system([comps[i] for i in sel], params)
        x = np.concatenate([positions[i] + 50.0 * j for j, i in enumerate(sel)])
        integ = openmm.LangevinMiddleIntegrator(
            P.REFERENCE_TEMPERATURE_K * params.temperature, params.friction / P.TAU_PS, dt_ps
        )
        plat, props = select_platform(platform, "mixed")
        ctx = openmm.Context(system, integ, plat, props)
        ctx.setPositions(x)
        integ.step(max(10, steps // 10))
        ctx.getState(getPositions=True)
        t0 = time.perf_counter()
        integ.step(steps)
        ctx.getState(getPositions=True)
        wall = time.perf_counter() - t0
        out[f"{label}_ps_per_s"] = steps * dt_ps / wall
        out["platform"] = plat.getName()
        del ctx
    out["chains_batched"] = len(comps)
    return out


def cg_speed(
    model: Any,
    reference: dict[str, Any],
    names: list[str],
    steps: int,
    device: str,
    overrides: dict[str, Any],
) -> dict[str, float]:
    """CG simulated ps per wall s: one chain alone, and all ``names`` chains in one batched
    TorchScript step module (one replica each), on ``device``.

    The cost of a step does not depend on where the beads are, so the module is timed on a
    fixed reference history (``steps`` calls after a warm-up that lets the TorchScript
    profiling executor optimise the graph); an unstable model is timed like a stable one.
    A graph-safe module on CUDA is timed as a replayed CUDA graph, the way ``cgml simulate``
    (the plugin's integrator) and the Python rollouts run it (``<label>_cuda_graph``).
    """
    import torch

    from openmm_cgml.export import export_step_module
    from openmm_cgml.reference.storage import TrajectoryFile
    from openmm_cgml.simulation.rollout import capture_step

    mappings = []
    for n in names:
        with TrajectoryFile(reference[n].files[0]) as tf:
            mappings.append(tf.mapping)
    out: dict[str, float] = {}
    for label, sel in (("single", [0]), ("batched", list(range(len(names))))):
        module = export_step_module(model, [mappings[i] for i in sel], device=device, **overrides)
        k, m, n = int(module.history_length), int(module.noise_draws), int(module.num_particles)
        dt = float(module.timestep_ps)
        hist = torch.cat(
            [torch.as_tensor(reference[names[i]].runs[0][:k], dtype=torch.float32) for i in sel],
            dim=1,
        ).to(device)
        gen = torch.Generator(device="cpu").manual_seed(0)
        noise = torch.randn((m, n, 3), generator=gen).to(device)
        force = torch.zeros(n, 3, device=device)
        box = torch.zeros(3, 3, device=device)

        def sync() -> None:
            if str(device).startswith("cuda"):
                torch.cuda.synchronize()

        with torch.no_grad():
            call = module
            graphed = bool(getattr(module, "graph_safe", False)) and str(device).startswith("cuda")
            if graphed:
                call = capture_step(module, (hist, noise, force, box))
                graphed = call is not module  # a failed capture falls back (with a warning)
            for _ in range(5):
                call(hist, noise, force, box)
            sync()
            t0 = time.perf_counter()
            for _ in range(steps):
                call(hist, noise, force, box)
            sync()
            wall = time.perf_counter() - t0
        out[f"{label}_ps_per_s"] = steps * dt / wall
        out[f"{label}_ms_per_step"] = 1e3 * wall / steps
        out[f"{label}_cuda_graph"] = graphed
    out["chains_batched"] = len(names)
    return out


@functools.lru_cache(maxsize=4)
def reference_key(files: tuple[str, ...]) -> str:
    """One hash of the reference files' contents (computed once per set of files)."""
    return hashlib.sha256("".join(fingerprint(f) for f in files).encode()).hexdigest()


def eval_dir(work: Path, split: str) -> Path:
    """Reports of the chains of ``split``: WORK/eval (test) or WORK/eval_<split>."""
    return work / ("eval" if split == "test" else f"eval_{split}")


def evaluate_variant(
    v: str,
    ckpts: dict[str, Path],
    reference: dict[str, Any],
    test_names: list[str],
    work: Path,
    settings: Any,
    steps: int,
    replicas: int,
    rec: int,
    preset: dict[str, Any],
    args: argparse.Namespace,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Roll out one variant on every test chain and compare with the reference.

    Returns the variant's row (speed-ups are added later) and facts about the reference runs
    (their length in Rg^2 relaxation times)."""
    from openmm_cgml.models import load_checkpoint

    base = row_weights(v)
    model = load_checkpoint(ckpts[base], map_location=args.device)
    overrides = row_overrides(v, model)
    print(
        f"[{v}] rolling out {len(test_names)} chains x {replicas} replicas x {steps} steps ...",
        flush=True,
    )
    # one state file per setting: finished rollouts are reused, other settings do not collide;
    # keyed by the weights + statistics and the config as this row resolves it (as `cgml
    # evaluate` binds its paused runs), so an edit of config.json's metadata keeps the state
    facts = {"variant": v, "checkpoint": str(ckpts[base]),
             **run_identity(ckpts[base], model, ABLATIONS[v][1] if v in ABLATIONS else None),
             "steps": steps, "replicas": replicas, "record_interval": rec, "seed": args.seed,
             "chains": test_names, "chunk_steps": preset["chunk_steps"],
             # new reference data (same names, other frames) gets a state file of its own
             "reference": reference_key(tuple(str(f) for n in test_names
                                              for f in reference[n].files))}
    key = hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:12]
    state = eval_dir(work, args.split) / v / f"rollout_state_{key}.pt"
    left = None
    if args.max_wall is not None:
        left = max(1e-9, args.max_wall - (time.perf_counter() - args.t_start))
    cg, results = rollout_molecules(
        model,
        reference,
        n_steps=steps,
        replicas=replicas,
        seed=args.seed,
        record_interval=rec,
        device=args.device,
        chunk_steps=preset["chunk_steps"],
        export_overrides=overrides,
        state_path=state,
        state_identity=facts,
        checkpoint_interval_s=args.checkpoint_interval,
        max_wall_s=left,
    )
    metrics = run_evaluation(
        reference,
        eval_dir(work, args.split) / v,
        cg=cg,
        settings=settings,
        info={"variant": v, "checkpoint": str(ckpts[base]), "device": args.device},
        title=f"Polymer benchmark: {v}",
    )
    agg = metrics["aggregate"]
    row = {
        "rg_r2": agg["rg_mean"].get("r2"),
        "rg_pearson_r2": agg["rg_mean"].get("pearson_r2"),
        "rg_mae_nm": agg["rg_mean"].get("mae"),
        "tau_r2": agg["rg2_tau"].get("r2"),
        "tau_log_r2": agg["rg2_tau_log"].get("r2"),
        "tau_pearson_r2": agg["rg2_tau"].get("pearson_r2"),
        "tau_mae_ps": agg["rg2_tau"].get("mae"),
        "tau_r2_converged_refs": agg.get("rg2_tau_converged_refs", {}).get("r2"),
        "rg_r2_ci95": agg["rg_mean"].get("r2_ci95"),
        "tau_r2_ci95": agg["rg2_tau"].get("r2_ci95"),
        # the r^2 the exact taus would be expected to score, given both estimates' errors
        "tau_r2_ceiling": agg["rg2_tau"].get("r2_ceiling"),
        "collision_rate": agg.get("collision_rate"),
        # stored frames closer than the reference's closest non-bonded approach
        "close_contact_fraction": agg.get("mean_close_contact_fraction"),
        # stored frames with a bond longer than any in the reference (the blow-ups' tail)
        "stretched_bond_fraction": agg.get("mean_stretched_bond_fraction"),
        "stable_fraction": agg.get("stable_fraction"),
        "blowup_free_fraction": agg.get("blowup_free_fraction"),
        "collision_free_fraction": agg.get("collision_free_fraction"),
        "stable_steps": steps,
        # the fraction still stable after 10, 100, ... steps and the run's length
        "stable_fraction_by_steps": agg.get("stable_fraction_by_steps"),
        "rollouts": agg.get("num_rollouts"),
        "speedup_single_chain": None,
        "speedup_batched": None,
        "rollout_wall_s": next(iter(results.values())).wall_s,
        "mean_fes_js": agg.get("mean_fes_js"),
        "mean_rg_js": agg.get("mean_rg_js"),
        "report": str(eval_dir(work, args.split) / v / "report.md"),
    }
    completed = [
        st["steps_completed"]
        for n in test_names
        for st in metrics["systems"][n]["cg"].get("stability", [])
    ]
    row["median_steps_completed"] = float(np.median(completed)) if completed else None
    # per chain, so that the table's scores can be re-analysed without re-running
    row["chains"] = {
        n: {
            side + "_" + key: metrics["systems"][n][long].get(field)
            for side, long in (("cg", "cg"), ("ref", "reference"))
            for key, field in (("rg_nm", "rg_mean_nm"), ("tau_ps", "rg2_tau_ps"),
                               ("tau_stderr_ps", "rg2_tau_stderr_ps"),
                               ("tau_converged", "rg2_tau_converged"))
        }
        for n in test_names
    }
    refs = [metrics["systems"][n]["reference"] for n in test_names]
    # per run (sets the estimator's bias) and all runs of a chain together (its variance)
    pairs = [(r.get("rg2_tau_run_lengths_in_tau"), r.get("num_runs", 1)) for r in refs]
    pairs = [(x, k) for x, k in pairs if x is not None and math.isfinite(x)]
    lengths = [x for x, _ in pairs]
    totals = [x * k for x, k in pairs]
    info = {
        "tau_converged_fraction": agg.get("reference_tau_converged_fraction"),
        "min_length_in_tau": min(lengths) if lengths else None,
        "median_length_in_tau": float(np.median(lengths)) if lengths else None,
        "runs_per_chain": max((k for _, k in pairs), default=None),
        "min_total_length_in_tau": min(totals) if totals else None,
        "median_total_length_in_tau": float(np.median(totals)) if totals else None,
    }
    return row, info


def evaluate_in_processes(
    variants: list[str], args: argparse.Namespace, argv: list[str] | None, work: Path
) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """Evaluate each variant in its own process at the same time (``--jobs``): rollouts are
    launch-bound, so several share one GPU well. Speeds are not measured there. Returns the
    rows, facts about the reference runs, and the variants whose rollouts paused."""
    import subprocess

    base_args = list(sys.argv[1:] if argv is None else argv)
    # drop the options this function sets itself
    drop = {"--variants", "--output", "--jobs"}
    cleaned: list[str] = []
    skip = False
    for a in base_args:
        if skip:
            skip = False
            continue
        key = a.split("=", 1)[0]
        if key in drop:
            skip = "=" not in a
            continue
        cleaned.append(a)
    parts = work / "parts"
    parts.mkdir(parents=True, exist_ok=True)
    procs = []
    for v in variants:
        out = parts / f"{v}.json"
        out.unlink(missing_ok=True)
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            *cleaned,
            "--variants",
            v,
            "--output",
            str(out),
            "--jobs",
            "1",
            "--no-speed",
        ]
        log = open(parts / f"{v}.log", "w")  # noqa: SIM115 - closed below
        procs.append((v, out, log, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)))
        while sum(p.poll() is None for *_, p in procs) >= args.jobs:
            time.sleep(1.0)
    rows: dict[str, Any] = {}
    info: dict[str, Any] = {}
    failed = []
    paused: list[str] = []
    for v, out, log, proc in procs:
        rc = proc.wait()
        log.close()
        if rc != 0 or not out.is_file():
            failed.append(f"{v} (exit {rc}, log {parts / (v + '.log')})")
            continue
        part = json.loads(out.read_text())
        if v in part.get("paused", []):
            paused.append(v)
            continue
        rows[v] = part["rows"][v]
        info = info or {
            k: part["reference_md"].get(k)
            for k in ("tau_converged_fraction", "min_length_in_tau", "median_length_in_tau",
                      "runs_per_chain", "min_total_length_in_tau",
                      "median_total_length_in_tau")
        }
    if failed:
        raise SystemExit("variant evaluation failed: " + "; ".join(failed))
    return rows, info, paused


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help="CPU smoke run: tiny data set, tiny models, short rollouts",
    )
    ap.add_argument("--work", default=None, help="working folder (runs/paper_polymer[_quick])")
    ap.add_argument("--data", default=None, help="existing polymer set (folder with splits.json)")
    ap.add_argument(
        "--device",
        default=None,
        help="torch device: cpu, cuda (default: cpu in --quick, else cuda if available)",
    )
    ap.add_argument(
        "--platform",
        default=None,
        help="OpenMM platform for reference MD (default: the fastest available)",
    )
    ap.add_argument("--train-steps", type=int, default=None, help="optimizer steps per model")
    ap.add_argument(
        "--train-time",
        type=float,
        default=None,
        help="wall-clock budget per model in seconds (training stops at whichever of "
        "--train-steps / --train-time comes first)",
    )
    ap.add_argument(
        "--fit-noise",
        action="store_true",
        help="fit a newly trained model's bond-graph noise correlation on the training chains "
        "(`cgml fit-noise ... --write`; default: the sampled noise stays independent per bead)",
    )
    ap.add_argument("--steps", type=int, default=None, help="model steps per rollout")
    ap.add_argument("--replicas", type=int, default=None, help="rollouts per test chain")
    ap.add_argument(
        "--record-interval", type=int, default=None, help="model steps between analysed frames"
    )
    ap.add_argument(
        "--variants",
        default="full,no_refinement,equivariant,k2",
        help="comma-separated rows (full, no_refinement, langevin, ancestral, ddim, "
        "ancestral_widen, ancestral_widen_0.3, independent_noise, equivariant, k2, "
        "equivariant_k2, equivariant_shifted, equivariant_k2_shifted)",
    )
    ap.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="evaluate this many variants at once, each in its own process (speeds are "
        "measured afterwards, alone)",
    )
    ap.add_argument(
        "--split",
        default="test",
        help="chains to roll out: test (the benchmark), or val to choose inference settings "
        "without looking at the test chains (both never trained on)",
    )
    ap.add_argument(
        "--reference",
        default=None,
        help="reference set to compare with (default: the --split chains of --data), e.g. long "
        "independent runs of the test chains: `cgml generate polymer --chains 200 "
        "--split-seed 0 --only test --copies 8 --time 8000tau -o data/polymer_long` (same "
        "--chains/--split-seed as --data; checked); rollouts start from its frames",
    )
    ap.add_argument(
        "--max-wall",
        type=float,
        default=None,
        metavar="SECONDS",
        help="pause the rollouts this many seconds after the start (per process with --jobs; "
        "checked between chunks): their state stays in WORK/eval*/<variant>/rollout_state_*.pt "
        "and the same command continues them (e.g. 10^5 steps over several device calls)",
    )
    ap.add_argument(
        "--checkpoint-interval",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="write each variant's rollout state this often (300), so that an interrupted run "
        "continues from it",
    )
    ap.add_argument("--no-speed", action="store_true", help="skip the speed-up measurements")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--output", default=None, help="results JSON (default WORK/paper_polymer.json)")
    args = ap.parse_args(argv)

    preset = QUICK if args.quick else FULL
    if args.train_time is not None:
        if args.train_time <= 0:
            raise SystemExit("--train-time must be > 0 seconds")
        preset = {**preset, "train": {**preset["train"], "max_time_s": float(args.train_time)}}
    if args.device is None:
        import torch

        args.device = "cpu" if args.quick or not torch.cuda.is_available() else "cuda"
    if args.quick and args.platform is None:
        args.platform = "CPU"
    work = Path(args.work or ("runs/paper_polymer_quick" if args.quick else "runs/paper_polymer"))
    work.mkdir(parents=True, exist_ok=True)
    seed_everything(args.seed)
    steps = args.steps or preset["steps"]
    replicas = args.replicas or preset["replicas"]
    rec = args.record_interval or preset["record_interval"]
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = sorted(set(variants) - {*ABLATIONS, *VARIANTS})
    if unknown:
        raise SystemExit(f"unknown variants {unknown}")
    t_start = time.perf_counter()
    args.t_start = t_start  # the --max-wall clock

    data = ensure_data(
        work, Path(args.data) if args.data else None, preset, args.seed, args.platform
    )
    ref_dir = Path(args.reference) if args.reference else data
    if args.reference:
        check_reference_set(data, ref_dir, args.split)
    reference = load_trajectories(resolve_files(ref_dir, args.split))
    test_names = sorted(reference)
    print(
        f"{len(test_names)} {args.split} chains (never trained on): {', '.join(test_names)}",
        flush=True,
    )

    from openmm_cgml.models import load_checkpoint

    ckpts: dict[str, Path] = {}
    for v in variants:
        base = row_weights(v)
        if base not in ckpts:
            ckpts[base] = train_variant(
                base,
                data,
                work,
                preset,
                args.seed,
                args.train_steps,
                args.device,
                fit_noise=args.fit_noise,
            )

    settings = EvaluationSettings(seed=args.seed, tica_lag_frames=5 if args.quick else 10)
    rows: dict[str, Any] = {}
    ref_info: dict[str, Any] = {}
    paused: list[str] = []
    if args.jobs > 1 and len(variants) > 1:
        rows, ref_info, paused = evaluate_in_processes(variants, args, argv, work)
    else:
        from openmm_cgml.evaluation.rollouts import RolloutsPaused

        for v in variants:
            try:
                rows[v], info = evaluate_variant(
                    v, ckpts, reference, test_names, work, settings, steps, replicas, rec,
                    preset, args,
                )  # fmt: skip
            except RolloutsPaused as stop:
                print(f"[{v}] {stop}", flush=True)
                paused.append(v)
                continue
            ref_info = ref_info or info
    ref_speed: dict[str, Any] = {}
    out = Path(args.output) if args.output else work / "paper_polymer.json"

    def publish(final: bool = False) -> None:
        """Write the JSON and the table (again after every speed figure: a time
        limit during timing keeps the accuracy table)."""
        result = {
            "benchmark": "paper_polymer",
            "mode": "quick" if args.quick else "full",
            "published": PUBLISHED,
            "rows": rows,
            "paused": paused,
            "reference_md": {**ref_speed, **ref_info},
            "settings": {
                "steps": steps,
                "replicas": replicas,
                "record_interval": rec,
                "seed": args.seed,
                "data": str(data),
                "reference": str(ref_dir),
                "split": args.split,
                "test_chains": test_names,
                "train_steps": args.train_steps or preset["train"]["max_steps"],
                "model": preset["model"],
                "device": args.device,
            },
            "environment": environment_info(args.device),
            "command": "python benchmarks/paper_polymer.py "
            + " ".join(sys.argv[1:] if argv is None else argv),
            "wall_s": time.perf_counter() - t_start,
        }
        write_metrics_json(out, result)

        def f(x: Any, spec: str = ".3f") -> str:
            return (
                "-"
                if x is None or (isinstance(x, float) and not math.isfinite(x))
                else (format(x, spec))
            )

        lines = [
            f"Polymer benchmark ({result['mode']}), {len(test_names)} unseen {args.split} chains, "
            f"{replicas} rollouts each of {steps} model steps, device {args.device}",
            f"{'variant':<15}{'r2 Rg':>8}{'r2 tau':>8}{'r2 tau c':>9}{'r2 ln tau':>10}"
            f"{'MAE Rg nm':>11}"
            f"{'MAE tau ps':>12}"
            f"{'collisions':>12}{'close':>9}{'stretched':>10}"
            f"{'stable':>8}{'no blowup':>10}{'steps ok':>10}"
            f"{'speed-up 1':>12}{'speed-up N':>12}",
        ]
        for v, r in rows.items():
            lines.append(
                f"{v:<15}{f(r['rg_r2']):>8}{f(r['tau_r2']):>8}"
                f"{f(r.get('tau_r2_converged_refs')):>9}{f(r.get('tau_log_r2')):>10}"
                f"{f(r['rg_mae_nm']):>11}"
                f"{f(r['tau_mae_ps'], '.1f'):>12}{f(r['collision_rate'], '.2e'):>12}"
                f"{f(r.get('close_contact_fraction'), '.1e'):>9}"
                f"{f(r.get('stretched_bond_fraction'), '.1e'):>10}"
                f"{f(r['stable_fraction'], '.2f'):>8}"
                f"{f(r.get('blowup_free_fraction'), '.2f'):>10}"
                f"{f(r.get('median_steps_completed'), '.0f'):>10}"
                f"{f(r['speedup_single_chain'], '.1f'):>12}"
                f"{f(r['speedup_batched'], '.1f'):>12}"
            )
        for v, r in rows.items():
            ci_rg, ci_tau = r.get("rg_r2_ci95"), r.get("tau_r2_ci95")
            if ci_rg and ci_tau:
                lines.append(
                    f"{v}: 95 % bootstrap interval over the chains: r2 Rg [{f(ci_rg[0])}, "
                    f"{f(ci_rg[1])}], r2 tau [{f(ci_tau[0])}, {f(ci_tau[1])}]; r2 tau that the "
                    f"exact taus would score given both estimates' errors: "
                    f"{f(r.get('tau_r2_ceiling'))}")
        lines.append("stable: fraction of rollouts with no collision and no blow-up; no blowup: "
                     "without a blow-up (collisions allowed); close: fraction of stored CG "
                     "frames closer than the reference's closest non-bonded approach; "
                     "stretched: fraction of stored CG frames with a bond longer than any in "
                     "the reference; "
                     "steps ok: median model steps completed (a rollout stops at a blow-up); "
                     "r2 tau c: over the chains whose reference tau converged; r2 ln tau: of "
                     "ln tau (every chain weighs alike; r2 tau is set by the slowest chains)")
        lines.append(
            f"published (plain GNN): r2 Rg {PUBLISHED['rg_r2']}, r2 tau {PUBLISHED['tau_r2']}"
        )
        if ref_info:
            runs = ref_info.get("runs_per_chain") or 1
            together = (
                f"; the {runs} runs of a chain together >= "
                f"{f(ref_info.get('min_total_length_in_tau'), '.0f')} (median "
                f"{f(ref_info.get('median_total_length_in_tau'), '.0f')})"
                if runs > 1 else ""
            )
            lines.append(
                f"reference runs span >= {f(ref_info.get('min_length_in_tau'), '.0f')} Rg^2 "
                f"relaxation times each (median {f(ref_info.get('median_length_in_tau'), '.0f')})"
                f"{together}; the benchmark asks for >= 100; converged tau for "
                f"{f(ref_info.get('tau_converged_fraction'), '.2f')} of the chains"
            )
        lines.append(f"results: {out}")
        table = "\n".join(lines)
        if final:
            print(table)
        atomic_write(out.with_suffix(".txt"), table + "\n")

    publish()
    if paused:
        publish(final=True)
        print(f"paused (--max-wall): {', '.join(paused)}; run the same command again to "
              "continue their rollouts (finished variants are read back from their rollout "
              "state in WORK, not rolled out again)")
        return 0
    speed_models: dict[str, Any] = {}
    if not args.no_speed:
        # speeds are measured here, one after another, never while rollouts share the device
        ref_speed.update(
            reference_speed(reference, test_names, preset["reference_speed_steps"], args.platform)
        )
        publish()
        for v in variants:
            base = row_weights(v)
            if base not in speed_models:
                speed_models[base] = load_checkpoint(ckpts[base], map_location=args.device)
            overrides = row_overrides(v, speed_models[base])
            speed = cg_speed(
                speed_models[base],
                reference,
                test_names,
                preset["speed_steps"],
                args.device,
                overrides,
            )
            rows[v]["cg_speed"] = speed
            rows[v]["speedup_single_chain"] = (
                speed["single_ps_per_s"] / ref_speed["single_ps_per_s"]
            )
            rows[v]["speedup_batched"] = speed["batched_ps_per_s"] / ref_speed["batched_ps_per_s"]
            publish()
    publish(final=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
