# ruff: noqa
"""Val-set one-step NLL and drift term (m = 4) of trained checkpoints, teacher-forced."""
import sys, torch, numpy as np
from openmm_cgml.models import CGModel, ModelConfig, load_checkpoint
from openmm_cgml.datasets import WindowDataset
torch.set_num_threads(1)
m = 4
for path in sys.argv[1:]:
    net = load_checkpoint(path).eval()
    cfg = ModelConfig.from_dict({**net.config.to_dict(), "drift_horizon": m, "drift_weight": 1.0})
    model = CGModel(cfg, net.statistics).eval()
    model.load_state_dict(net.state_dict())
    ds = WindowDataset("/work/main/data/polymer_small", history_length=net.history_length, horizon=m,
                       window_step=4, split="val")
    idx = np.arange(len(ds)); tot = {"nll": 0.0, "drift": 0.0}; n = 0
    with torch.no_grad():
        for i in range(0, len(idx), 32):
            b = ds.collate(idx[i:i + 32]); out = model.loss(b, generator=torch.Generator().manual_seed(0))
            for k in tot: tot[k] += float(out[k]) * b.num_graphs
            n += b.num_graphs
    print(path, {k: round(v / n, 4) for k, v in tot.items()}, n, "windows")
