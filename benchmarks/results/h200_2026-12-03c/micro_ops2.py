# ruff: noqa: B023, E501  (one-off measurement script: closures run inside the loop)
"""Micro-benchmark 2: layer norm with the centring folded into the preceding linear map (one
reduction + one fused elementwise pass) vs linear + F.layer_norm; gathers of rows viewed as
wider words; segment sums over target-sorted edges vs index_add_. P = 860,000 x H = 128."""
import statistics

import torch
import torch.nn.functional as F

torch.backends.cuda.matmul.allow_tf32 = True
dev = "cuda"
N, P, H = 35_000, 860_000, 128
g = torch.Generator(device=dev).manual_seed(0)
dst = torch.sort(torch.randint(0, N, (P,), device=dev, generator=g)).values
offsets = torch.searchsorted(dst, torch.arange(N + 1, device=dev))


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
def current(s: torch.Tensor, e: torch.Tensor, w: torch.Tensor, b: torch.Tensor,
            gw: torch.Tensor, gb: torch.Tensor) -> torch.Tensor:
    return e + F.layer_norm(F.linear(s, w, b), [w.shape[0]], gw, gb)


@torch.jit.script
def folded(s: torch.Tensor, e: torch.Tensor, w: torch.Tensor, b: torch.Tensor,
           gw: torch.Tensor, gb: torch.Tensor) -> torch.Tensor:
    yc = F.linear(s, w - w.mean(0, keepdim=True), b - b.mean())
    sq = torch.linalg.vector_norm(yc, 2, -1, True, dtype=torch.float32)
    r = torch.rsqrt(sq * sq / yc.shape[-1] + 1e-5).to(yc.dtype)
    return e + yc * r * gw + gb


@torch.jit.script
def folded2(s: torch.Tensor, e: torch.Tensor, w: torch.Tensor, b: torch.Tensor,
            gw: torch.Tensor, gb: torch.Tensor) -> torch.Tensor:
    yc = F.linear(s, w - w.mean(0, keepdim=True), b - b.mean())
    ms = (yc.float() * yc.float()).mean(-1, keepdim=True)
    return e + yc * torch.rsqrt(ms + 1e-5).to(yc.dtype) * gw + gb


for dt in (torch.float32, torch.float16):
    s = torch.randn(P, H, device=dev, dtype=dt)
    e = torch.randn(P, H, device=dev, dtype=dt)
    w = torch.randn(H, H, device=dev, dtype=dt) / H ** 0.5
    b = torch.randn(H, device=dev, dtype=dt)
    gw, gb = torch.rand(H, device=dev, dtype=dt), torch.randn(H, device=dev, dtype=dt)
    table = torch.randn(N, H, device=dev, dtype=dt)
    out = {}
    with torch.jit.optimized_execution(True):
        out["linear+layer_norm+add"] = bench(lambda: current(s, e, w, b, gw, gb))
        out["folded (vector_norm)"] = bench(lambda: folded(s, e, w, b, gw, gb))
        out["folded2 (mean sq)"] = bench(lambda: folded2(s, e, w, b, gw, gb))
        ref = current(s, e, w, b, gw, gb).float()
        err = (folded(s, e, w, b, gw, gb).float() - ref).abs().max().item()
        err2 = (folded2(s, e, w, b, gw, gb).float() - ref).abs().max().item()
    out["  max |folded - current|"] = err
    out["  max |folded2 - current|"] = err2
    out["vector_norm alone"] = bench(lambda: torch.linalg.vector_norm(s, 2, -1, True, dtype=torch.float32))
    out["gather rows"] = bench(lambda: table[dst])
    wide = table.view(torch.int64)
    out[f"gather rows viewed int64 [N,{wide.shape[1]}]"] = bench(lambda: wide[dst])
    out["index_add sorted"] = bench(lambda: torch.zeros(N, H, device=dev, dtype=dt).index_add_(0, dst, e))
    out["segment_reduce sum"] = bench(lambda: torch.segment_reduce(e, "sum", offsets=offsets))
    torch.testing.assert_close(torch.segment_reduce(e.float(), "sum", offsets=offsets),
                               torch.zeros(N, H, device=dev).index_add_(0, dst, e.float()),
                               rtol=1e-4, atol=1e-3)
    print(f"== {dt}")
    for k, v in out.items():
        print(f"  {k:34s} {v:9.4g}")
