"""End-to-end training of :class:`~openmm_cgml.models.CGModel` (``cgml train``).

Output directory layout::

    OUTPUT/config.yaml                 resolved configuration of the run (re-usable)
    OUTPUT/run.json                    parameter counts, data sizes, statistics, devices
    OUTPUT/metrics.csv                 one row per log interval / validation
    OUTPUT/checkpoints/step_XXXXXXXX/  model.safetensors, config.json, statistics.json,
                                       train_state.pt (optimizer, scheduler, step)
    OUTPUT/checkpoints/latest.json     name of the newest complete checkpoint
    OUTPUT/best/                       lowest validation loss (if a validation set is given)
    OUTPUT/final/                      the model after the last step

Reproducibility: the model is initialised from ``seed``; the window order of epoch ``e``
is a function of ``(seed, e)``; the random draws of the loss at step ``s`` on rank ``r``
come from a generator seeded with ``(seed, r, s)``. A run resumed from a checkpoint
therefore continues exactly as the uninterrupted run would have.
"""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import BatchSampler, DataLoader, DistributedSampler
from tqdm import tqdm

from openmm_cgml.datasets import (
    GraphBatch,
    WindowDataset,
    WindowSample,
    collate_windows,
    compute_statistics,
)
from openmm_cgml.models import (
    CGModel,
    ModelConfig,
    load_checkpoint,
    load_train_state,
    save_checkpoint,
)
from openmm_cgml.models.checkpoint import read_checkpoint_config
from openmm_cgml.training.config import TrainConfig
from openmm_cgml.training.distributed import (
    DistEnv,
    all_reduce_mean,
    barrier,
    cleanup_distributed,
    init_distributed,
)
from openmm_cgml.utils import atomic_write, seed_everything

LOSS_KEYS = ("total", "nll", "dsm", "rg", "mse_acc")


def step_generator(seed: int, rank: int, step: int) -> torch.Generator:
    """The generator of the loss draws at ``step`` on ``rank`` (CPU)."""
    return torch.Generator().manual_seed((seed * 1_000_003 + rank) * 10_000_019 + step)


def lr_lambda(config: TrainConfig):  # noqa: ANN201 - returns a closure for LambdaLR
    t = config.train

    def factor(step: int) -> float:
        if step < t.warmup_steps:
            return (step + 1) / max(t.warmup_steps, 1)
        if t.schedule == "constant":
            return 1.0
        span = max(t.max_steps - t.warmup_steps, 1)
        progress = min((step - t.warmup_steps) / span, 1.0)
        return t.lr_min_ratio + (1 - t.lr_min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def build_optimizer(model: torch.nn.Module, config: TrainConfig
                    ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW (weight decay on weight matrices only, not on biases, norms or embedding
    tables) with the warm-up + cosine/constant schedule of ``config.train``."""
    embedding_weights = {id(m.weight) for m in model.modules()
                         if isinstance(m, torch.nn.Embedding)}
    decay, no_decay = [], []
    for p in model.parameters():
        (decay if p.ndim >= 2 and id(p) not in embedding_weights else no_decay).append(p)
    t = config.train
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": t.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=t.lr, betas=tuple(t.betas))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(config))
    return opt, sched


class Trainer:
    """One training run. ``Trainer(config).fit()``; see the module docstring."""

    def __init__(self, config: TrainConfig, resume: bool = False, progress: bool = True,
                 env: DistEnv | None = None) -> None:
        self._created = time.perf_counter()  # train.max_time_s counts from here
        config.validate()
        self.config = config
        if config.train.cpu_threads > 0:
            torch.set_num_threads(config.train.cpu_threads)
        self.env = env or init_distributed(config.train.device)
        self._own_group = env is None
        self.progress = progress and self.env.is_main
        self.out = Path(config.output)
        self.ckpt_dir = self.out / "checkpoints"
        self.step = 0
        self.best_val = math.inf
        self.rows: list[dict[str, Any]] = []
        d = config.data
        k = config.model.history_length
        horizon = config.model.training_horizon  # > 1 with the drift term or rollout score
        self.train_set = WindowDataset(d.train, history_length=k, horizon=horizon,
                                       frame_stride=d.frame_stride,
                                       window_step=d.window_step, split=d.train_split)
        self.val_set = None
        if d.val is not None:
            self.val_set = WindowDataset(d.val, history_length=k, horizon=horizon,
                                         frame_stride=d.frame_stride,
                                         window_step=d.val_window_step, split=d.val_split)
            if not math.isclose(self.val_set.dt, self.train_set.dt, rel_tol=1e-6):
                raise ValueError(f"validation time step {self.val_set.dt} ps differs from the "
                                 f"training time step {self.train_set.dt} ps")
        per_step = config.train.batch_size * self.env.world_size
        self.steps_per_epoch = len(self.train_set) // per_step
        if self.steps_per_epoch < 1:
            raise ValueError(f"the training set has {len(self.train_set)} windows, fewer than one "
                             f"global batch ({per_step}); lower train.batch_size")
        resume_from = self._latest_checkpoint() if resume else None
        if resume and resume_from is None:
            raise FileNotFoundError(f"{self.ckpt_dir}: no checkpoint to resume from")
        seed_everything(config.seed)
        if resume_from is not None:
            # through ModelConfig: keys added since the checkpoint was written take defaults
            saved = ModelConfig.from_dict(read_checkpoint_config(resume_from)["model"]).to_dict()
            if saved != config.model.to_dict():
                diff = sorted(k for k in saved if saved.get(k) != config.model.to_dict().get(k))
                raise ValueError(f"--resume: the model section differs from the checkpoint in "
                                 f"{resume_from} (keys {diff}); use the original config")
            model = load_checkpoint(resume_from, map_location="cpu")
        elif config.train.init_from is not None:
            model = _fine_tuning_start(config.train.init_from, config.model)
        else:
            stats = compute_statistics(self.train_set, config.data.statistics_samples,
                                       seed=config.seed)
            model = CGModel(config.model, stats)
        self.model = model.to(self.env.device)
        self.opt, self.sched = build_optimizer(self.model, config)
        if resume_from is not None:
            state = load_train_state(resume_from, map_location="cpu")
            self.opt.load_state_dict(state["optimizer"])
            self.sched.load_state_dict(state["scheduler"])
            self.step = int(state["step"])
            self.best_val = float(state.get("best_val", math.inf))
            self._load_rows()
        if self.env.distributed:
            find_unused = config.model.dsm_weight == 0
            self.ddp: torch.nn.Module = DistributedDataParallel(
                self.model, device_ids=[self.env.device.index] if self.env.device.type == "cuda"
                else None, find_unused_parameters=find_unused)
        else:
            self.ddp = self.model

    # -- bookkeeping -----------------------------------------------------------------------
    def _latest_checkpoint(self) -> Path | None:
        pointer = self.ckpt_dir / "latest.json"
        if not pointer.exists():
            return None
        path = self.ckpt_dir / json.loads(pointer.read_text())["path"]
        return path if path.is_dir() else None

    def _load_rows(self) -> None:
        f = self.out / "metrics.csv"
        if f.exists():
            with open(f, newline="") as fh:
                self.rows = [r for r in csv.DictReader(fh) if int(r["step"]) <= self.step]

    def _write_rows(self) -> None:
        if not self.env.is_main:
            return
        cols: list[str] = []
        for r in self.rows:
            cols += [c for c in r if c not in cols]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=cols, restval="")
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write(self.out / "metrics.csv", buf.getvalue())

    def save(self, name: str | None = None) -> Path | None:
        """Checkpoint (rank 0 only). ``name=None``: a step checkpoint + latest.json."""
        if not self.env.is_main:
            return None
        state = {"optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict(),
                 "step": self.step, "best_val": self.best_val, "seed": self.config.seed,
                 "world_size": self.env.world_size}
        meta = {"step": self.step, "train_config": self.config.to_dict()}
        if name is not None:
            return save_checkpoint(self.model, self.out / name, state, meta)
        path = save_checkpoint(self.model, self.ckpt_dir / f"step_{self.step:08d}", state, meta)
        atomic_write(self.ckpt_dir / "latest.json",
                     json.dumps({"path": path.name, "step": self.step}))
        steps = sorted(p for p in self.ckpt_dir.glob("step_*") if p.is_dir())
        for old in steps[: max(0, len(steps) - self.config.train.keep_checkpoints)]:
            if old != path:
                shutil.rmtree(old, ignore_errors=True)
        return path

    # -- data --------------------------------------------------------------------------------
    def _epoch_batches(self, epoch: int, skip: int) -> Iterator[GraphBatch]:
        sampler = DistributedSampler(self.train_set, num_replicas=self.env.world_size,
                                     rank=self.env.rank, shuffle=True, seed=self.config.seed,
                                     drop_last=True)
        sampler.set_epoch(epoch)
        bs = self.config.train.batch_size
        indices = list(sampler)[skip * bs:]
        batches = BatchSampler(indices, bs, drop_last=True)
        loader = DataLoader(self.train_set, batch_sampler=batches, collate_fn=collate_windows,
                            num_workers=self.config.data.num_workers,
                            pin_memory=self.env.device.type == "cuda")
        yield from loader

    def _autocast(self) -> Any:
        return torch.autocast(device_type=self.env.device.type, dtype=torch.bfloat16,
                              enabled=self.config.train.amp)

    # -- training ------------------------------------------------------------------------------
    def train_step(self, batch: GraphBatch) -> dict[str, float]:
        """One optimizer step on ``batch``; returns the loss components (floats)."""
        self.ddp.train()
        batch = batch.to(self.env.device)
        gen = step_generator(self.config.seed, self.env.rank, self.step)
        noise = self.model.sample_loss_noise(batch, gen)
        self.opt.zero_grad(set_to_none=True)
        with self._autocast():
            out = self.ddp(batch, noise)
        loss = out["total"]
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite loss at step {self.step}: "
                                     f"{ {k: float(v) for k, v in out.items()} }")
        loss.backward()
        t = self.config.train
        grad_norm = (torch.nn.utils.clip_grad_norm_(self.model.parameters(), t.grad_clip)
                     if t.grad_clip > 0 else torch.tensor(0.0))
        self.opt.step()
        self.sched.step()
        self.step += 1
        vals = {k: float(v.detach()) for k, v in out.items()}
        vals["grad_norm"] = float(grad_norm)
        return vals

    def fit(self, stop_after: int | None = None) -> dict[str, Any]:
        """Train until ``max_steps`` (or ``stop_after`` more steps); returns the last metrics."""
        t = self.config.train
        if self.env.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            self._write_config()
            info = {"parameters": self.model.num_parameters(), "world_size": self.env.world_size,
                    "device": str(self.env.device), "train_windows": len(self.train_set),
                    "val_windows": len(self.val_set) if self.val_set is not None else 0,
                    "train_files": len(self.train_set.files), "dt_ps": self.train_set.dt,
                    "statistics": self.model.statistics, "torch": torch.__version__,
                    "start_step": self.step}
            atomic_write(self.out / "run.json", json.dumps(info, indent=2))
            if self.progress:
                tqdm.write(f"cgml train: {info['parameters']['total']:,} parameters "
                           f"({self.config.model.family}), {len(self.train_set):,} training "
                           f"windows from {len(self.train_set.files)} files, dt = "
                           f"{self.train_set.dt:g} ps, {self.env.world_size} process(es) on "
                           f"{self.env.device}; output in {self.out}")
        stop = None if stop_after is None else self.step + stop_after
        requested = t.max_steps  # max_time_s re-plans below this, never above
        target = t.max_steps if stop is None else min(t.max_steps, stop)
        bar = tqdm(total=t.max_steps, initial=self.step, disable=not self.progress,
                   desc="train", unit="step", dynamic_ncols=True)
        sums: dict[str, float] = {}
        count = 0
        tick = time.perf_counter()
        t_fit = self._created  # the budget includes the set-up (indexing, statistics, loading)
        marks = [(tick, self.step)]  # (time, step) at the log steps: the recent step rate
        last: dict[str, Any] = {}
        try:
            while self.step < target:
                epoch, skip = divmod(self.step, self.steps_per_epoch)
                for batch in self._epoch_batches(epoch, skip):
                    vals = self.train_step(batch)
                    for key, v in vals.items():
                        sums[key] = sums.get(key, 0.0) + v
                    count += 1
                    bar.update(1)
                    if self.step % t.log_every == 0 or self.step == target:
                        elapsed = time.perf_counter() - tick
                        avg = all_reduce_mean({k: v / count for k, v in sums.items()}, self.env)
                        row = {"step": self.step, "epoch": epoch,
                               "lr": self.sched.get_last_lr()[0],
                               "samples_per_s": count * t.batch_size * self.env.world_size
                               / max(elapsed, 1e-9)}
                        row.update({f"train_{k}": v for k, v in avg.items()})
                        bar.set_postfix(loss=f"{avg['total']:.3f}", nll=f"{avg['nll']:.3f}")
                        self.rows.append(row)
                        last = row
                        sums, count = {}, 0
                        tick = time.perf_counter()
                        marks = (marks + [(tick, self.step)])[-6:]
                        if t.max_time_s > 0:
                            self._fit_time_budget(tick - t_fit, marks, requested)
                            target = t.max_steps if stop is None else min(t.max_steps, stop)
                            bar.total = t.max_steps
                    if self.step % t.val_every == 0 or self.step == t.max_steps:
                        last = {**last, **self.validate()}
                    if self.step % t.checkpoint_every == 0 or self.step == target:
                        self._write_rows()
                        self.save()
                        barrier(self.env)
                        tick = time.perf_counter()
                    if self.step >= target:
                        break
        except KeyboardInterrupt:
            if self.env.is_main and not self.env.distributed:
                self._write_rows()
                self.save()
            raise
        finally:
            bar.close()
        if self.step >= t.max_steps:
            self.save("final")
        self._write_rows()
        barrier(self.env)
        return last

    def _fit_time_budget(self, elapsed_s: float, marks: list[tuple[float, int]],
                         requested: int) -> None:
        """Re-plan ``max_steps`` (at most ``requested``) so the fit ends within ``max_time_s``.

        The per-step cost is measured over the last few log intervals (validation and
        checkpoints included; a device shared for a while and then free re-plans upwards
        again), averaged over processes so every rank plans the same number of steps.
        """
        t = self.config.train
        (t0, s0), (t1, s1) = marks[0], marks[-1]
        if s1 <= s0:
            return
        rate = all_reduce_mean({"s": (t1 - t0) / (s1 - s0)}, self.env)["s"]
        remaining = max(t.max_time_s - elapsed_s, 0.0)
        planned = self.step + int(0.95 * remaining / max(rate, 1e-9))
        planned = min(max(planned, self.step), requested)
        if planned != t.max_steps:
            t.max_steps = planned
            if self.env.is_main:
                self._write_config()

    def _write_config(self) -> None:
        """``OUTPUT/config.yaml``: the resolved configuration (re-usable, read on resume)."""
        atomic_write(self.out / "config.yaml",
                     yaml.safe_dump(self.config.to_dict(), sort_keys=False))

    # -- validation ----------------------------------------------------------------------------
    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Validation loss (+ short rollouts) on rank 0; appended to metrics.csv."""
        out: dict[str, float] = {}
        if self.val_set is not None and self.env.is_main:
            model = self.model
            model.eval()
            gen = torch.Generator().manual_seed(self.config.seed + 7919)
            bs = self.config.train.batch_size
            n_batches = len(self.val_set) // bs + (len(self.val_set) % bs > 0)
            if self.config.train.val_batches > 0:
                n_batches = min(n_batches, self.config.train.val_batches)
            # evenly spread windows, same ones every time
            idx = np.linspace(0, len(self.val_set) - 1, min(len(self.val_set), n_batches * bs))
            idx = np.unique(idx.astype(np.int64))
            sums: dict[str, float] = {}
            for i in range(0, len(idx), bs):
                batch = self.val_set.collate(idx[i:i + bs]).to(self.env.device)
                with self._autocast():
                    res = model.loss(batch, model.sample_loss_noise(batch, gen))
                for key, v in res.items():
                    sums[key] = sums.get(key, 0.0) + float(v) * batch.num_graphs
            out = {f"val_{k}": v / len(idx) for k, v in sums.items()}
            if self.config.train.rollout_steps > 0:
                out.update(validation_rollouts(model, self.val_set, self.config))
            model.train()
            if out["val_total"] < self.best_val:
                self.best_val = out["val_total"]
                self.save("best")
            self.rows.append({"step": self.step, **out})
        barrier(self.env)
        return out

    def close(self) -> None:
        if self._own_group:
            cleanup_distributed()


def _radius_of_gyration(x: torch.Tensor, masses: torch.Tensor) -> torch.Tensor:
    """Rg (nm) of frames [..., N, 3] with masses [N]."""
    w = masses / masses.sum()
    com = (x * w[:, None]).sum(-2, keepdim=True)
    return torch.sqrt((((x - com) ** 2).sum(-1) * w).sum(-1))


def _fine_tuning_start(folder: str, config: ModelConfig) -> CGModel:
    """A model with ``config`` and the weights and statistics of the model folder ``folder``
    (``train.init_from``); ``ValueError`` naming the differing architecture keys."""
    path = Path(folder)
    if not (path / "model.safetensors").is_file():
        raise FileNotFoundError(f"train.init_from: {path} is no model folder (it lacks "
                                "model.safetensors); give a checkpoint folder of `cgml train` "
                                "(e.g. runs/x/final) or a shipped model's folder")
    source = load_checkpoint(path, map_location="cpu")
    have, want = source.config.architecture(), config.architecture()
    diff = sorted(k for k in want if have.get(k) != want[k])
    if diff:
        raise ValueError(f"train.init_from: {path} has another architecture than the model "
                         f"section in {diff} ("
                         + ", ".join(f"{k}: {have.get(k)!r} there, {want[k]!r} here"
                                     for k in diff)
                         + "); copy these keys from its config.json")
    model = CGModel(config, source.statistics)
    model.load_state_dict(source.state_dict())
    return model


@torch.no_grad()
def validation_rollouts(model: CGModel, dataset: WindowDataset,
                        config: TrainConfig) -> dict[str, float]:
    """Roll out ``rollout_steps`` model steps from the start of a few validation molecules.

    Returns ``val_rollout_rg_mae`` (nm, |Rg_model - Rg_reference| averaged over steps and
    molecules), ``val_rollout_collision_frac`` (fraction of model frames with a non-bonded
    bead pair closer than ``collision_nm``) and ``val_rollout_finite`` (1 if every frame is
    finite). Noise from a fixed seed, so the numbers are reproducible.
    """
    t = config.train
    k = model.history_length
    device = model.dt.device
    gen = torch.Generator().manual_seed(config.seed + 104729)
    rg_err, coll, finite, n_mol = 0.0, 0.0, 1.0, 0
    for f, graph in enumerate(dataset.graphs[: t.rollout_molecules]):
        available = (dataset.num_frames[f] - 1) // dataset.frame_stride + 1
        steps = min(t.rollout_steps, available - k)
        if steps < 1:
            continue
        ref = torch.from_numpy(dataset.read_frames(f, 0, k + steps)).to(device)
        b = collate_windows([WindowSample(frames=ref[:k].cpu().numpy(), graph=graph,
                                          dt=dataset.dt)]).to(device)
        emb = model.embed(b.atom_element, b.atom_residue, b.atom_role, b.atom_mass, b.atom_bonds,
                          b.bond_types, b.atom_to_bead, b.num_beads)
        hist = ref[:k].clone()
        zeros = torch.zeros_like(hist[0])
        frames = []
        for _ in range(steps):
            noise = torch.randn(model.noise_draws, hist.shape[1], 3, generator=gen).to(device)
            x = model.step(emb, hist, noise, b.cg_bonds, b.batch, b.box, zeros)
            frames.append(x)
            hist = torch.cat([hist[1:], x[None]], 0)
        pred = torch.stack(frames)
        masses = b.bead_masses.to(pred.dtype)
        if not bool(torch.isfinite(pred).all()):
            finite = 0.0
            continue
        rg_err += float((_radius_of_gyration(pred, masses)
                         - _radius_of_gyration(ref[k:], masses)).abs().mean())
        d = torch.cdist(pred, pred)
        n = d.shape[-1]
        mask = ~torch.eye(n, dtype=torch.bool, device=device)
        bonds = b.cg_bonds
        mask[bonds[0], bonds[1]] = False
        mask[bonds[1], bonds[0]] = False
        close = ((d < t.collision_nm) & mask).flatten(1).any(1)
        coll += float(close.float().mean())
        n_mol += 1
    if n_mol == 0:
        return {"val_rollout_finite": finite}
    return {"val_rollout_rg_mae": rg_err / n_mol, "val_rollout_collision_frac": coll / n_mol,
            "val_rollout_finite": finite}


def train(config: TrainConfig, resume: bool = False, progress: bool = True,
          stop_after: int | None = None) -> dict[str, Any]:
    """Run a training job (single process or under torchrun); returns the last metrics."""
    trainer = Trainer(config, resume=resume, progress=progress)
    try:
        return trainer.fit(stop_after=stop_after)
    finally:
        trainer.close()
