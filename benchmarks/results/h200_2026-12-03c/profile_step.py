# ruff: noqa: B023, E501  (one-off measurement script: closures run inside the loop)
"""Kernel-time breakdown of one protein-residue-100ps step over 1,000 villin replicas (CUDA)."""
import os
import sys

import openmm.app as app
import torch

from openmm_cgml import load_model
from openmm_cgml.export.export import build_step_module

torch.backends.cuda.matmul.allow_tf32 = True
m = load_model("protein-residue-100ps")
v = m.map(os.path.join(os.path.dirname(app.__file__), "data", "test.pdb"))
R = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
x1 = torch.tensor(v.bead_positions().reshape(-1, v.num_beads, 3)[0], dtype=torch.float32)
for dt in sys.argv[2:] or ["float32", "float16"]:
    mod = torch.jit.script(build_step_module(m.network, [v] * R, device="cuda",
                                             static_graph=True, network_dtype=dt))
    x = x1.repeat(R, 1).cuda()
    hist = x.unsqueeze(0).repeat(mod.history_length, 1, 1)
    noise = torch.randn(mod.noise_draws, x.shape[0], 3, device="cuda")
    f, box = torch.zeros_like(x), torch.zeros(3, 3, device="cuda")
    with torch.no_grad(), torch.jit.optimized_execution(True):
        for _ in range(6):
            mod(hist, noise, f, box)
        torch.cuda.synchronize()
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
            for _ in range(3):
                mod(hist, noise, f, box)
            torch.cuda.synchronize()
    print(f"==== {dt}, {R} replicas, pair_capacity {mod.pair_capacity}")
    print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=25, max_name_column_width=70))
