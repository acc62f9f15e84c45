# ruff: noqa
"""One full model step (dynamics + refinement) from true histories: modal variance of the
displacement vs the real next frame."""
import sys
import numpy as np, torch
from openmm_cgml.evaluation import load_trajectories, resolve_files
from openmm_cgml.pretrained import load_model
from openmm_cgml.reference.storage import TrajectoryFile
from openmm_cgml.export import build_step_module
from openmm_cgml.models.noise import bond_laplacian
net = load_model("polymer-comb").network
files = sorted(__import__("glob").glob(sys.argv[1] + "/*.h5"))
settings = [dict(noise_correlation=0.0), dict(noise_correlation=0.4), dict(noise_correlation=0.4, widen=False),
            dict(noise_correlation=0.1), dict(noise_correlation=0.0, sigmas=[])]
tot = {i: [] for i in range(len(settings))}; real_tot = []
for f in files:
    (name, tr), = load_trajectories([f]).items()
    with TrajectoryFile(f) as tf: mapping = tf.mapping
    x = np.asarray(tr.runs[0]); k = 20
    W = 48; rng = np.random.default_rng(0)
    pick = np.sort(rng.choice(len(x) - k, W, replace=False))
    n = x.shape[1]
    win = np.stack([x[s:s + k + 1] for s in pick], axis=1).reshape(k + 1, -1, 3)
    hist = torch.tensor(win[:k], dtype=torch.float32); target = win[k]
    L = bond_laplacian(tr.bonds, n); w, V = np.linalg.eigh(L)
    def modal(d):  # d [W*n,3] -> per-mode variance
        d = d.reshape(W, n, 3); p = np.einsum("nm,wnc->wmc", V, d); return (p**2).sum(-1).mean(0)
    real = modal(target - win[k - 1]); real_tot.append(real[1:4].mean())
    line = f"{name} n={n} real modes1-3 {real[1:4].mean():.3f} fast {real[-3:].mean():.3f} |"
    for i, ov in enumerate(settings):
        mod = build_step_module(net, [mapping] * W, **ov)
        gen = torch.Generator().manual_seed(1)
        eps = torch.randn(mod.noise_draws, W * n, 3, generator=gen)
        with torch.no_grad():
            out = mod(hist, eps, torch.zeros(W * n, 3), torch.zeros(3, 3)).double().numpy()
        mm = modal(out - win[k - 1]); tot[i].append(mm[1:4].mean())
        line += f" {i}: {mm[1:4].mean():.3f}/{mm[-3:].mean():.3f}"
    print(line)
print("mean slow-mode var real", np.mean(real_tot), {i: round(float(np.mean(v)), 3) for i, v in tot.items()})
