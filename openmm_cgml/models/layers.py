"""Building blocks shared by the networks (all TorchScript-compatible)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from openmm_cgml.models.graph_ops import aggregate


def linear_layer_norm(x: Tensor, weight: Tensor, bias: Tensor | None, norm_weight: Tensor,
                      norm_bias: Tensor, eps: float) -> Tensor:
    """``layer_norm(linear(x))`` with the centring folded into the linear map.

    The mean over the outputs of ``W x + b`` is the linear map ``mean_o(W) x + mean(b)``, so
    ``W - mean_o(W)`` and ``b - mean(b)`` give the centred outputs ``y_c`` directly; what is
    left is one reduction (``|y_c|^2``, accumulated in float32, or float64 for float64
    inputs) and one elementwise pass, which TorchScript's fuser merges with what follows.
    Same function as ``LayerNorm(Linear)`` up to rounding; x [..., n_in] -> [..., n_out].
    """
    centred_bias = None if bias is None else bias - bias.mean()
    yc = torch.nn.functional.linear(x, weight - weight.mean(0, keepdim=True), centred_bias)
    acc = torch.float64 if yc.dtype == torch.float64 else torch.float32
    norm = torch.linalg.vector_norm(yc, 2, -1, True, dtype=acc)
    inv_std = torch.rsqrt(norm * norm / yc.shape[-1] + eps).to(yc.dtype)
    return yc * inv_std * norm_weight + norm_bias


class MLP(nn.Module):
    """``Linear -> SiLU -> Linear`` (optionally ``-> LayerNorm``); [..., n_in] -> [..., n_out].

    ``fold_norm`` (a TorchScript constant, set before scripting by
    :func:`fold_layer_norms`): compute ``LayerNorm(Linear)`` with
    :func:`linear_layer_norm` (inference on many pairs; same function).
    """

    __constants__ = ["fold_norm"]

    def __init__(self, n_in: int, n_hidden: int, n_out: int, layer_norm: bool = False,
                 bias_out: bool = True) -> None:
        super().__init__()
        self.lin1 = nn.Linear(n_in, n_hidden)
        self.lin2 = nn.Linear(n_hidden, n_out, bias=bias_out)
        self.norm = nn.LayerNorm(n_out) if layer_norm else nn.Identity()
        self.fold_norm = False

    def forward(self, x: Tensor) -> Tensor:
        hidden = torch.nn.functional.silu(self.lin1(x))
        if self.fold_norm:
            return linear_layer_norm(hidden, self.lin2.weight, self.lin2.bias, self.norm.weight,
                                     self.norm.bias, self.norm.eps)
        return self.norm(self.lin2(hidden))


def fold_layer_norms(module: nn.Module) -> int:
    """Switch every :class:`MLP` with a LayerNorm and every :class:`InteractionLayer` inside
    ``module`` to :func:`linear_layer_norm` (in place, before ``torch.jit.script``); returns
    how many were switched. For inference: same outputs up to rounding, fewer passes over
    the per-pair tensors on a GPU (``benchmarks/results/h200_2026-12-03c``)."""
    count = 0
    for sub in module.modules():
        if (isinstance(sub, MLP) and isinstance(sub.norm, nn.LayerNorm)) \
                or isinstance(sub, InteractionLayer):
            sub.fold_norm = True
            count += 1
    return count


class RadialBasis(nn.Module):
    """Gaussian radial basis on [0, r_max] nm and a smooth cosine cutoff envelope.

    ``forward(dist [P], smooth [P] bool)`` -> (rbf [P, n], envelope [P]); the envelope
    goes smoothly to 0 at ``cutoff`` for edges with ``smooth`` (radius edges) and is 1
    for the others (bonds, which may be longer than the cutoff).
    """

    def __init__(self, num: int, cutoff: float, r_max: float) -> None:
        super().__init__()
        self.register_buffer("centers", torch.linspace(0.0, r_max, num))
        self.width = float(r_max / max(num - 1, 1))
        self.cutoff = float(cutoff)

    def forward(self, dist: Tensor, smooth: Tensor) -> tuple[Tensor, Tensor]:
        rbf = torch.exp(-0.5 * ((dist.unsqueeze(-1) - self.centers) / self.width) ** 2)
        env = 0.5 * (torch.cos(math.pi * dist / self.cutoff) + 1.0)
        env = torch.where(dist < self.cutoff, env, torch.zeros_like(env))
        env = torch.where(smooth, env, torch.ones_like(env))
        return rbf, env


class SigmaEmbedding(nn.Module):
    """Fourier features of log(sigma / nm) -> MLP -> [N, H] (noise-level conditioning).

    The features are computed in the dtype of ``sigma`` and fed to the MLP in the dtype of
    its weights."""

    def __init__(self, hidden: int, num_freq: int = 8) -> None:
        super().__init__()
        self.register_buffer("freqs", torch.arange(1, num_freq + 1).float() * 0.5)
        self.mlp = MLP(2 * num_freq + 1, hidden, hidden)

    def forward(self, sigma: Tensor) -> Tensor:
        ls = torch.log(sigma).unsqueeze(-1)
        ang = ls * self.freqs.to(ls.dtype)
        feat = torch.cat([torch.sin(ang), torch.cos(ang), ls], -1)
        return self.mlp(feat.to(self.mlp.lin1.weight.dtype))


class InteractionLayer(nn.Module):
    """Interaction-network message passing with edge state (non-equivariant).

    ``e' = e + MLP([h_i, h_j, e])``; ``h' = h + MLP([h, sum_j env_ij e'_ij / avg])``.
    h: [N, H], e: [P, H], env: [P]; ``offsets``: None (messages summed by atomic adds) or the
    segment offsets of target-sorted edges (:func:`~openmm_cgml.models.graph_ops.aggregate`).
    The first linear layer of the edge MLP is applied to
    the node features once per node and gathered (``W [h_i, h_j, e] = W_i h_i + W_j h_j +
    W_e e``), which is the same function at a third of the per-edge cost. ``fold_norm``: as in
    :class:`MLP`, for the edge update's ``LayerNorm(Linear)``.
    """

    __constants__ = ["fold_norm"]

    def __init__(self, hidden: int, avg_neighbors: float) -> None:
        super().__init__()
        self.edge_dst = nn.Linear(hidden, hidden)
        self.edge_src = nn.Linear(hidden, hidden, bias=False)
        self.edge_e = nn.Linear(hidden, hidden, bias=False)
        self.edge_out = nn.Linear(hidden, hidden)
        self.edge_norm = nn.LayerNorm(hidden)
        self.node_mlp = MLP(2 * hidden, hidden, hidden, layer_norm=True)
        self.inv_avg = 1.0 / float(avg_neighbors)
        self.fold_norm = False

    def forward(self, h: Tensor, e: Tensor, edge_index: Tensor, env: Tensor,
                offsets: Tensor | None) -> tuple[Tensor, Tensor]:
        src, dst = edge_index[0], edge_index[1]
        pre = torch.nn.functional.silu(self.edge_dst(h)[dst] + self.edge_src(h)[src]
                                       + self.edge_e(e))
        if self.fold_norm:
            e = e + linear_layer_norm(pre, self.edge_out.weight, self.edge_out.bias,
                                      self.edge_norm.weight, self.edge_norm.bias,
                                      self.edge_norm.eps)
        else:
            e = e + self.edge_norm(self.edge_out(pre))
        agg = aggregate(e * env.unsqueeze(-1), dst, h.shape[0], offsets) * self.inv_avg
        h = h + self.node_mlp(torch.cat([h, agg], -1))
        return h, e


class PaiNNLayer(nn.Module):
    """One PaiNN block (message + update) with scalar s [N, H] and vector V [N, 3, H] features.

    Equivariant by construction: vectors are only scaled by invariant gates, summed, or
    built from edge unit vectors; scalars only see norms and inner products.
    Edge filter input: ``edge_feat`` [P, F] invariant (radial basis + edge type).
    """

    def __init__(self, hidden: int, edge_dim: int, avg_neighbors: float) -> None:
        super().__init__()
        self.hidden = hidden
        self.phi = MLP(hidden, hidden, 3 * hidden)
        self.filt = nn.Linear(edge_dim, 3 * hidden)
        self.upd_u = nn.Linear(hidden, hidden, bias=False)
        self.upd_v = nn.Linear(hidden, hidden, bias=False)
        self.upd_mlp = MLP(2 * hidden, hidden, 3 * hidden)
        self.norm = nn.LayerNorm(hidden)
        self.inv_avg = 1.0 / float(avg_neighbors)

    def forward(self, s: Tensor, v: Tensor, edge_index: Tensor, edge_feat: Tensor,
                env: Tensor, unit: Tensor, offsets: Tensor | None) -> tuple[Tensor, Tensor]:
        h = self.hidden
        src, dst = edge_index[0], edge_index[1]
        x = self.phi(s)[src] * self.filt(edge_feat) * env.unsqueeze(-1)
        a_vv, a_ss, a_vs = x[:, :h], x[:, h:2 * h], x[:, 2 * h:]
        dv = a_vv.unsqueeze(1) * v[src] + a_vs.unsqueeze(1) * unit.unsqueeze(-1)
        s = s + aggregate(a_ss, dst, s.shape[0], offsets) * self.inv_avg
        v = v + aggregate(dv, dst, s.shape[0], offsets) * self.inv_avg
        # update
        u_v = self.upd_u(v)
        v_v = self.upd_v(v)
        norm = torch.sqrt((v_v * v_v).sum(1) + 1e-8)
        a = self.upd_mlp(torch.cat([self.norm(s), norm], -1))
        b_vv, b_sv, b_ss = a[:, :h], a[:, h:2 * h], a[:, 2 * h:]
        v = v + b_vv.unsqueeze(1) * u_v
        s = s + b_sv * (u_v * v_v).sum(1) + b_ss
        return s, v
