# ruff: noqa
"""Drift attenuation check: in the slowest bond-graph modes, regress the one-step displacement
on the current mode amplitude -- real (reference MD) vs the model's teacher-forced mean."""
import glob, sys
import numpy as np, torch
from openmm_cgml.evaluation import load_trajectories
from openmm_cgml.pretrained import load_model
from openmm_cgml.reference.storage import TrajectoryFile
from openmm_cgml.export import build_step_module
from openmm_cgml.models.noise import bond_laplacian
net = load_model(sys.argv[2] if len(sys.argv) > 2 else "polymer-comb").network
k = int(net.history_length)
rows = []
for f in sorted(glob.glob(sys.argv[1] + "/*.h5")):
    (name, tr), = load_trajectories([f]).items()
    with TrajectoryFile(f) as tf: mapping = tf.mapping
    x = np.asarray(tr.runs[0]); n = x.shape[1]
    L = bond_laplacian(tr.bonds, n); w, V = np.linalg.eigh(L)
    starts = np.arange(0, len(x) - k)[:: max(1, (len(x) - k) // 150)]
    W = len(starts)
    mod = build_step_module(net, [mapping] * W, sigmas=[])
    win = np.stack([x[s:s + k + 1] for s in starts], axis=1)
    hist = torch.tensor(win[:k].reshape(k, -1, 3), dtype=torch.float32)
    with torch.no_grad():
        mean, std, _ = mod.model.dynamics(mod.bead_embeddings, hist, mod.cg_bonds, mod.batch, torch.zeros(3, 3))
    dt = float(mod.timestep_ps)
    pred = (2 * hist[-1] - hist[-2] + mean * dt * dt).double().numpy().reshape(W, n, 3)
    cur = win[k - 1]; nxt = win[k]
    a = np.einsum("nm,wnc->wmc", V, cur)   # mode amplitudes
    d_real = np.einsum("nm,wnc->wmc", V, nxt - cur)
    d_model = np.einsum("nm,wnc->wmc", V, pred - cur)
    for m in (1, 2):
        A = a[:, m].reshape(-1); R = d_real[:, m].reshape(-1); M = d_model[:, m].reshape(-1)
        A = A - A.mean()
        sr = (A * (R - R.mean())).sum() / (A * A).sum(); sm = (A * (M - M.mean())).sum() / (A * A).sum()
        rows.append((name, m, sr, sm))
        print(f"{name} mode {m}: real slope {sr:+.3f}  model mean slope {sm:+.3f}  ratio {sm / sr:.2f}")
r = np.array([(s, t) for _, m, s, t in rows if m == 1])
print("mode 1 median ratio", np.median(r[:, 1] / r[:, 0]))
