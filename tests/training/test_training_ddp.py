"""DDP (2 gloo CPU processes) gives the gradients of one process on the whole batch."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from openmm_cgml.datasets import WindowDataset, compute_statistics
from openmm_cgml.datasets.synthetic import write_synthetic_chain
from openmm_cgml.models import CGModel, ModelConfig

TINY = dict(hidden=16, layers=2, score_layers=1, embed_layers=1, history_length=3,
            num_rbf=8, refine_levels=1, refine_steps=1)
INDICES = [0, 9, 17, 25]  # 4 windows: ranks get [0, 9] and [17, 25]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _setup(root: str):
    ds = WindowDataset(root, history_length=3)
    stats = compute_statistics(ds, seed=0)
    torch.manual_seed(123)
    model = CGModel(ModelConfig(family="equivariant", **TINY), stats).double().train()
    full = ds.collate(INDICES).to("cpu", torch.float64)
    noise = model.sample_loss_noise(full, torch.Generator().manual_seed(9))
    return ds, model, full, noise


def _half(ds, model, full, noise, rank: int):
    """The rank's half of the batch and the matching slice of the random draws."""
    half = ds.collate(INDICES[2 * rank: 2 * rank + 2]).to("cpu", torch.float64)
    n0 = int((full.batch < 2).sum())
    nodes = slice(0, n0) if rank == 0 else slice(n0, full.num_beads)
    graphs = slice(0, 2) if rank == 0 else slice(2, 4)
    part = {"aug_sigma": noise["aug_sigma"][graphs], "aug_noise": noise["aug_noise"][:, nodes],
            "dsm_level": noise["dsm_level"][graphs], "dsm_noise": noise["dsm_noise"][nodes]}
    assert half.num_beads == nodes.stop - nodes.start
    return half, part


def _worker(rank: int, world: int, port: int, root: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from torch.nn.parallel import DistributedDataParallel

    from openmm_cgml.training.distributed import cleanup_distributed, init_distributed

    env = init_distributed("cpu")
    assert env.world_size == 2 and env.rank == rank
    ds, model, full, noise = _setup(root)
    ddp = DistributedDataParallel(model)
    half, part = _half(ds, model, full, noise, rank)
    loss = ddp(half, part)["total"]
    loss.backward()
    if rank == 0:
        torch.save({n: p.grad.detach().clone() for n, p in model.named_parameters()}, out)
    # both ranks done before either tears the gloo group down (a rank destroying it while
    # its peer was still finishing aborted the peer once in CI: "terminate called without
    # an active exception")
    torch.distributed.barrier()
    cleanup_distributed()


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    write_synthetic_chain(root / "a.h5", num_beads=5, num_frames=20, seed=1)
    write_synthetic_chain(root / "b.h5", num_beads=7, num_frames=20, seed=2)
    return root


def test_ddp_gradients_equal_single_process(data_root, tmp_path):
    out = tmp_path / "grads.pt"
    mp.spawn(_worker, args=(2, _free_port(), str(data_root), str(out)), nprocs=2, join=True)
    ddp_grads = torch.load(out, weights_only=True)
    ds, model, full, noise = _setup(str(data_root))
    model.zero_grad()
    model.loss(full, noise)["total"].backward()
    assert set(ddp_grads) == {n for n, _ in model.named_parameters()}
    worst = 0.0
    for name, p in model.named_parameters():
        g = p.grad if p.grad is not None else torch.zeros_like(p)
        torch.testing.assert_close(ddp_grads[name], g, rtol=1e-9, atol=1e-12, msg=name)
        worst = max(worst, float((ddp_grads[name] - g).abs().max()))
    # the halves alone do NOT give the full gradient (the test can fail)
    model.zero_grad()
    half, part = _half(ds, model, full, noise, 0)
    model.loss(half, part)["total"].backward()
    diffs = [float((ddp_grads[n] - p.grad).abs().max()) for n, p in model.named_parameters()
             if p.grad is not None]
    assert max(diffs) > 1e-6 > worst


@pytest.mark.slow
def test_torchrun_two_processes_trains(data_root, tmp_path):
    """The training script itself under torchrun (gloo, 2 CPU processes)."""
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"""
seed: 1
output: {tmp_path / 'run'}
data: {{train: {data_root}, val: {data_root / 'a.h5'}}}
model: {{hidden: 16, layers: 1, score_layers: 1, embed_layers: 1, history_length: 3,
         num_rbf: 8, refine_levels: 1, refine_steps: 1}}
train: {{max_steps: 4, batch_size: 2, device: cpu, log_every: 2, val_every: 4,
         checkpoint_every: 2, rollout_steps: 2, rollout_molecules: 1, warmup_steps: 1}}
""")
    torchrun = Path(sys.executable).parent / "torchrun"
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    res = subprocess.run([str(torchrun), "--nproc_per_node", "2", "--master_port",
                          str(_free_port()), "-m", "openmm_cgml.cli", "train", str(cfg),
                          "--no-progress"], env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (tmp_path / "run" / "final" / "model.safetensors").exists()
    assert "samples_per_s" in (tmp_path / "run" / "metrics.csv").read_text()
