# ruff: noqa: B023, E501  (one-off measurement script: closures run inside the loop)
"""Micro-benchmark of the per-pair ops of one InteractionLayer at 1,000 villin replicas (CUDA):
layer norm, row gather and scatter-add over P = 860,000 edges x H = 128, float32 vs float16."""
import statistics

import torch
import torch.nn.functional as F

torch.backends.cuda.matmul.allow_tf32 = True
dev = "cuda"
N, P, H = 35_000, 860_000, 128
g = torch.Generator(device=dev).manual_seed(0)
dst_rand = torch.randint(0, N, (P,), device=dev, generator=g)
dst_sort = torch.sort(dst_rand).values


def bench(fn, reps=30):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        ts.append(a.elapsed_time(b))
    return statistics.median(ts) * 1e3  # us


@torch.jit.script
def manual_ln(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    var, mean = torch.var_mean(x.float(), -1, unbiased=False, keepdim=True)
    return ((x.float() - mean) * torch.rsqrt(var + 1e-5) * w + b).to(x.dtype)


@torch.jit.script
def manual_ln2(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    mean = x.mean(-1, keepdim=True)
    xc = x - mean
    var = (xc * xc).mean(-1, keepdim=True)
    return xc * torch.rsqrt(var + 1e-5) * w + b


for dt in (torch.float32, torch.float16, torch.bfloat16):
    x = torch.randn(P, H, device=dev, dtype=dt)
    table = torch.randn(N, H, device=dev, dtype=dt)
    w = torch.ones(H, device=dev, dtype=dt)
    b = torch.zeros(H, device=dev, dtype=dt)
    out = {}
    out["layer_norm"] = bench(lambda: F.layer_norm(x, (H,), w, b))
    with torch.jit.optimized_execution(True):
        out["ln var_mean (jit)"] = bench(lambda: manual_ln(x, w.float(), b.float()))
        out["ln two-pass (jit)"] = bench(lambda: manual_ln2(x, w, b))
    out["gather x[idx] rand"] = bench(lambda: table[dst_rand])
    out["gather x[idx] sorted"] = bench(lambda: table[dst_sort])
    out["index_select rand"] = bench(lambda: torch.index_select(table, 0, dst_rand))
    out["embedding rand"] = bench(lambda: F.embedding(dst_rand, table))
    out["index_add rand"] = bench(lambda: torch.zeros(N, H, device=dev, dtype=dt).index_add_(0, dst_rand, x))
    out["index_add sorted"] = bench(lambda: torch.zeros(N, H, device=dev, dtype=dt).index_add_(0, dst_sort, x))
    out["index_add fp32 of cast"] = bench(lambda: torch.zeros(N, H, device=dev).index_add_(0, dst_rand, x.float()))
    out["linear 128x128"] = bench(lambda: F.linear(x, w.new_ones(H, H)))
    out["copy (x + 1)"] = bench(lambda: x + 1)
    print(f"== {dt}")
    for k, v in out.items():
        print(f"  {k:28s} {v:9.1f} us")
