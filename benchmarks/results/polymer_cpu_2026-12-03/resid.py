# ruff: noqa
"""Teacher-forced residuals of polymer-comb on reference chains: is the next-step noise
correlated between bonded beads? And how is the real vs sampled displacement spread over
Rouse modes?"""
import sys
import numpy as np, torch
from openmm_cgml.evaluation import load_trajectories, resolve_files
from openmm_cgml.pretrained import load_model
from openmm_cgml.reference.storage import TrajectoryFile
from openmm_cgml.export import build_step_module

cg = load_model("polymer-comb")
net = cg.network
files = resolve_files(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
for f in files:
    refs = load_trajectories([f])
    (name, tr), = refs.items()
    with TrajectoryFile(f) as tf:
        mapping = tf.mapping
    mod = build_step_module(net, [mapping])
    k = int(mod.history_length); dt = float(mod.timestep_ps)
    x = torch.tensor(tr.runs[0], dtype=torch.float32)
    ratio = int(round(dt / tr.dt_ps))
    x = x[::ratio]
    T, N, _ = x.shape
    res, stds, disp = [], [], []
    box = torch.zeros(3, 3)
    with torch.no_grad():
        for t in range(k, min(T, k + 400)):
            hist = x[t - k:t]
            mean, std, _ = net.dynamics(mod.bead_embeddings, hist, mod.cg_bonds, mod.batch, box)
            pred = 2 * hist[-1] - hist[-2] + mean * dt * dt
            res.append((x[t] - pred).numpy()); stds.append((std * dt * dt).numpy())
            disp.append((x[t] - hist[-1]).numpy())
    res = np.array(res); stds = np.array(stds); disp = np.array(disp)
    b = tr.bonds
    def corr(a):
        a = a - a.mean(0)
        num = (a[:, b[:, 0]] * a[:, b[:, 1]]).sum(-1).mean()
        return num / (a ** 2).sum(-1).mean()
    # Rouse-like modes along the bond graph: eigenvectors of the graph Laplacian
    L = np.zeros((N, N)); L[b[:, 0], b[:, 1]] = L[b[:, 1], b[:, 0]] = -1
    L[np.arange(N), np.arange(N)] = -L.sum(1)
    w, V = np.linalg.eigh(L)
    def modal(a):  # variance per mode (sum over xyz), averaged over frames
        p = np.einsum("nm,tnc->tmc", V, a)
        return (p ** 2).sum(-1).mean(0)
    mr = modal(res); md = modal(disp)
    zs = np.einsum("nm,tnc->tmc", V, np.random.default_rng(0).standard_normal(res.shape) * stds)
    mz = (zs ** 2).sum(-1).mean(0)
    print(f"{name}: N={N} frames={len(res)} per-bead RMS residual {np.sqrt((res**2).sum(-1).mean()):.3f} nm,"
          f" model std*sqrt3 {np.sqrt((stds**2).sum(-1).mean()):.3f} nm, disp RMS {np.sqrt((disp**2).sum(-1).mean()):.3f}")
    print(f"  bonded corr: residual {corr(res):.3f}, displacement {corr(disp):.3f}")
    for lo, hi in ((1, 2), (2, 4), (4, 8), (8, N)):
        print(f"  modes {lo}-{hi - 1}: real resid var {mr[lo:hi].mean():.4f}, real disp {md[lo:hi].mean():.4f}, diag-gauss sample {mz[lo:hi].mean():.4f}")
