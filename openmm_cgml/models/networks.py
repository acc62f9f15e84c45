"""The three networks: Embedding (fine graph), Dynamics and Score (coarse graph).

Two families of dynamics/score networks share one interface:

* ``plain``: interaction-network message passing on raw Cartesian features (displacement
  vectors, velocities) -- the non-equivariant GNNs of the method. Translation invariant,
  not rotation equivariant.
* ``equivariant``: PaiNN-style networks with scalar features s [N, H] and vector features
  V [N, 3, H]. Vectors enter only as velocities, displacements and edge unit vectors and
  are combined linearly with invariant gates, so the mean acceleration and the score rotate
  with the input and the std (isotropic) is invariant. PaiNN was chosen over e3nn/tensor
  products because the outputs are plain vectors (l = 1 suffices), it is pure torch and
  TorchScript-friendly (the plugin runs it without custom ops), and it costs about as much
  as the plain network per layer.

All networks work on normalised quantities; :class:`~openmm_cgml.models.CGModel` does the
unit conversions with the dataset statistics.

Precision: the dynamics and score networks compute their features in the dtype of their
weights, while geometry (pair vectors, distances, radial basis, cutoff envelope) and the
returned accelerations and scores stay in the dtype of the positions.
Casting only the weights to bfloat16/float16 (:meth:`CGModel.set_network_dtype`) thus halves
the bytes of the per-pair tensors without touching the integrator's arithmetic.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from openmm_cgml.models.graph_ops import build_edges, scatter_sum, sort_by_target
from openmm_cgml.models.layers import (
    MLP,
    InteractionLayer,
    PaiNNLayer,
    RadialBasis,
    SigmaEmbedding,
)

NUM_EDGE_TYPES = 2  # 0 = radius pair, 1 = CG bond


def set_sorted_aggregation(module: nn.Module, on: bool = True) -> int:
    """Let every dynamics/score network inside ``module`` sort its edges by target once per
    call and sum messages as contiguous segments (``torch.segment_reduce``) instead of atomic
    ``index_add_`` (in place, before ``torch.jit.script``). Same sums up to rounding order;
    for inference on many pairs. Returns how many networks were switched."""
    count = 0
    for sub in module.modules():
        if isinstance(sub, (PlainDynamicsNet, PlainScoreNet, EquivariantDynamicsNet,
                            EquivariantScoreNet)):
            sub.sorted_aggregation = bool(on)
            count += 1
    return count


class EmbeddingNet(nn.Module):
    """Fine-graph GNN: atom features -> atom embeddings -> pooled bead embeddings [N, H].

    Atom inputs: element, residue, role (int64 [A]), mass (amu [A]); bond inputs: bond type
    (int64 [B]); bonds are used in both directions. Pooling is mass-weighted or mean.
    """

    def __init__(self, hidden: int, layers: int, element_vocab: int, residue_vocab: int,
                 role_vocab: int, bond_vocab: int, pool: str) -> None:
        super().__init__()
        self.element = nn.Embedding(element_vocab, hidden)
        self.residue = nn.Embedding(residue_vocab, hidden)
        self.role = nn.Embedding(role_vocab, hidden)
        self.mass = nn.Linear(1, hidden)
        self.bond = nn.Embedding(bond_vocab, hidden)
        self.layers = nn.ModuleList([InteractionLayer(hidden, 3.0) for _ in range(layers)])
        self.out = MLP(hidden, hidden, hidden, layer_norm=True)
        self.mass_pool = pool == "mass"

    def forward(self, atom_element: Tensor, atom_residue: Tensor, atom_role: Tensor,
                atom_mass: Tensor, atom_bonds: Tensor, bond_types: Tensor,
                atom_to_bead: Tensor, num_beads: int) -> Tensor:
        mass = atom_mass.to(self.mass.weight.dtype)
        h = (self.element(atom_element) + self.residue(atom_residue) + self.role(atom_role)
             + self.mass(torch.log(mass.clamp(min=1e-3)).unsqueeze(-1)))
        edge_index = torch.cat([atom_bonds, atom_bonds.flip(0)], 1)
        e = self.bond(torch.cat([bond_types, bond_types]))
        env = torch.ones(edge_index.shape[1], dtype=h.dtype, device=h.device)
        for layer in self.layers:
            h, e = layer(h, e, edge_index, env, None)
        w = mass if self.mass_pool else torch.ones_like(mass)
        total = scatter_sum(h * w.unsqueeze(-1), atom_to_bead, num_beads)
        norm = scatter_sum(w, atom_to_bead, num_beads).clamp(min=1e-12)
        return self.out(total / norm.unsqueeze(-1))


class _EdgeEncoder(nn.Module):
    """Invariant edge features: radial basis, edge type one-hot -> [P, num_rbf + 2], env [P].

    The one-hot is built by comparison (``torch.nn.functional.one_hot`` checks the range of
    its input on the host, a device sync that breaks CUDA-graph capture).
    """

    def __init__(self, num_rbf: int, cutoff: float) -> None:
        super().__init__()
        self.rbf = RadialBasis(num_rbf, cutoff, cutoff)
        self.cutoff = float(cutoff)
        self.num_types = NUM_EDGE_TYPES

    def forward(self, vec: Tensor, edge_type: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        dist = torch.sqrt((vec * vec).sum(-1) + 1e-12)
        rbf, env = self.rbf(dist, edge_type == 0)
        types = torch.arange(self.num_types, dtype=edge_type.dtype, device=edge_type.device)
        onehot = (edge_type.unsqueeze(-1) == types).to(vec.dtype)
        return torch.cat([rbf, onehot], -1), env, dist


# --------------------------------------------------------------------------------------
# plain family
# --------------------------------------------------------------------------------------
class PlainDynamicsNet(nn.Module):
    """Non-equivariant dynamics GNN.

    forward(bead_emb [N, H], pos [N, 3] nm, vel [N, T, 3] normalised velocities, cg_bonds,
    batch, box, pairs=None) -> (mean [N, 3], std [N, 3] >= min_std, latent [N, H]),
    normalised units. ``pairs``: optional int64 [2, P] static non-bonded pairs used instead
    of the radius search (see :func:`~openmm_cgml.models.graph_ops.build_edges`).
    """

    __constants__ = ["sorted_aggregation"]

    def __init__(self, hidden: int, layers: int, num_vel: int, num_rbf: int, cutoff: float,
                 avg_neighbors: float, min_std: float) -> None:
        super().__init__()
        self.cutoff = float(cutoff)
        self.min_std = float(min_std)
        self.edges = _EdgeEncoder(num_rbf, cutoff)
        self.sorted_aggregation = False  # see set_sorted_aggregation
        self.node_in = MLP(hidden + 3 * num_vel, hidden, hidden, layer_norm=True)
        self.edge_in = MLP(num_rbf + NUM_EDGE_TYPES + 4 + 3, hidden, hidden, layer_norm=True)
        self.layers = nn.ModuleList([InteractionLayer(hidden, avg_neighbors)
                                     for _ in range(layers)])
        self.head = MLP(hidden, hidden, 6)

    def forward(self, bead_emb: Tensor, pos: Tensor, vel: Tensor, cg_bonds: Tensor,
                batch: Tensor, box: Tensor,
                pairs: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        edge_index, edge_type, vec = build_edges(pos, cg_bonds, batch, box, self.cutoff, pairs)
        offsets: Tensor | None = None
        if self.sorted_aggregation:
            edge_index, edge_type, vec, offsets = sort_by_target(edge_index, edge_type, vec,
                                                                 pos.shape[0])
        feat, env, dist = self.edges(vec, edge_type)
        w = self.head.lin1.weight.dtype
        n = pos.shape[0]
        h = self.node_in(torch.cat([bead_emb.to(pos.dtype), vel.reshape(n, -1)], -1).to(w))
        v_last = vel[:, -1]
        dv = v_last[edge_index[0]] - v_last[edge_index[1]]
        e = self.edge_in(torch.cat([feat, vec / self.cutoff, (dist / self.cutoff).unsqueeze(-1),
                                    dv], -1).to(w))
        env = env.to(w)
        for layer in self.layers:
            h, e = layer(h, e, edge_index, env, offsets)
        out = self.head(h).to(pos.dtype)
        std = torch.nn.functional.softplus(out[:, 3:]) + self.min_std
        return out[:, :3], std, h


class PlainScoreNet(nn.Module):
    """Non-equivariant score GNN on the noisy next positions.

    forward(x [N, 3] nm noisy next positions, sigma [N] nm, latent [N, H], pos [N, 3] nm
    current positions, vel [N, 3] normalised last velocity, cg_bonds, batch, box,
    disp_scale (0-d tensor, nm), pairs=None) -> score [N, 3] in nm^-1
    (``f / sigma``). ``pairs``: as in :class:`PlainDynamicsNet`.
    """

    __constants__ = ["sorted_aggregation"]

    def __init__(self, hidden: int, layers: int, num_rbf: int, cutoff: float,
                 avg_neighbors: float) -> None:
        super().__init__()
        self.cutoff = float(cutoff)
        self.edges = _EdgeEncoder(num_rbf, cutoff)
        self.sorted_aggregation = False  # see set_sorted_aggregation
        self.sigma_emb = SigmaEmbedding(hidden)
        self.node_in = MLP(2 * hidden + 6, hidden, hidden, layer_norm=True)
        self.edge_in = MLP(num_rbf + NUM_EDGE_TYPES + 4, hidden, hidden, layer_norm=True)
        self.layers = nn.ModuleList([InteractionLayer(hidden, avg_neighbors)
                                     for _ in range(layers)])
        self.head = MLP(hidden, hidden, 3)

    def forward(self, x: Tensor, sigma: Tensor, latent: Tensor, pos: Tensor, vel: Tensor,
                cg_bonds: Tensor, batch: Tensor, box: Tensor, disp_scale: Tensor,
                pairs: Tensor | None = None) -> Tensor:
        edge_index, edge_type, vec = build_edges(x, cg_bonds, batch, box, self.cutoff, pairs)
        offsets: Tensor | None = None
        if self.sorted_aggregation:
            edge_index, edge_type, vec, offsets = sort_by_target(edge_index, edge_type, vec,
                                                                 x.shape[0])
        feat, env, dist = self.edges(vec, edge_type)
        w = self.head.lin1.weight.dtype
        disp = (x - pos) / disp_scale
        h = self.node_in(torch.cat([latent.to(x.dtype), self.sigma_emb(sigma).to(x.dtype),
                                    disp, vel], -1).to(w))
        e = self.edge_in(torch.cat([feat, vec / self.cutoff, (dist / self.cutoff).unsqueeze(-1)],
                                   -1).to(w))
        env = env.to(w)
        for layer in self.layers:
            h, e = layer(h, e, edge_index, env, offsets)
        return self.head(h).to(x.dtype) / sigma.unsqueeze(-1)


# --------------------------------------------------------------------------------------
# equivariant family (PaiNN-style)
# --------------------------------------------------------------------------------------
def _vector_readout(v: Tensor, gate: Tensor) -> Tensor:
    """Equivariant vector output: sum_h V[:, :, h] * gate[:, h] -> [N, 3] (gate invariant)."""
    return (v * gate.unsqueeze(1)).sum(-1)


class EquivariantDynamicsNet(nn.Module):
    """SE(3)-equivariant dynamics GNN (PaiNN messages).

    Same interface as :class:`PlainDynamicsNet`. Scalars start from the bead embedding,
    the velocity norms and the inner products of every velocity with the last one; vectors
    start as learned linear combinations of the velocities. The std is isotropic
    (one invariant number per bead, repeated on x, y, z).
    """

    __constants__ = ["sorted_aggregation"]

    def __init__(self, hidden: int, layers: int, num_vel: int, num_rbf: int, cutoff: float,
                 avg_neighbors: float, min_std: float) -> None:
        super().__init__()
        self.hidden = hidden
        self.cutoff = float(cutoff)
        self.min_std = float(min_std)
        self.edges = _EdgeEncoder(num_rbf, cutoff)
        self.sorted_aggregation = False  # see set_sorted_aggregation
        self.node_in = MLP(hidden + 2 * num_vel, hidden, hidden, layer_norm=True)
        self.vec_in = nn.Linear(num_vel, hidden, bias=False)
        self.layers = nn.ModuleList([PaiNNLayer(hidden, num_rbf + NUM_EDGE_TYPES, avg_neighbors)
                                     for _ in range(layers)])
        self.norm = nn.LayerNorm(hidden)
        self.gate = MLP(hidden, hidden, hidden)
        self.std_head = MLP(hidden, hidden, 1)

    def forward(self, bead_emb: Tensor, pos: Tensor, vel: Tensor, cg_bonds: Tensor,
                batch: Tensor, box: Tensor,
                pairs: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        edge_index, edge_type, vec = build_edges(pos, cg_bonds, batch, box, self.cutoff, pairs)
        offsets: Tensor | None = None
        if self.sorted_aggregation:
            edge_index, edge_type, vec, offsets = sort_by_target(edge_index, edge_type, vec,
                                                                 pos.shape[0])
        feat, env, dist = self.edges(vec, edge_type)
        w = self.gate.lin1.weight.dtype
        unit = (vec / dist.unsqueeze(-1)).to(w)
        norms = torch.sqrt((vel * vel).sum(-1) + 1e-12)            # [N, T]
        dots = (vel * vel[:, -1:]).sum(-1)                          # [N, T]
        s = self.node_in(torch.cat([bead_emb.to(pos.dtype), norms, dots], -1).to(w))
        v = self.vec_in(vel.transpose(1, 2).to(w))                  # [N, 3, H]
        feat = feat.to(w)
        env = env.to(w)
        for layer in self.layers:
            s, v = layer(s, v, edge_index, feat, env, unit, offsets)
        s = self.norm(s)
        mean = _vector_readout(v, self.gate(s)).to(pos.dtype)
        std = torch.nn.functional.softplus(self.std_head(s).to(pos.dtype)) + self.min_std
        return mean, std.expand(-1, 3), s


class EquivariantScoreNet(nn.Module):
    """SE(3)-equivariant score GNN (PaiNN messages); interface of :class:`PlainScoreNet`."""

    __constants__ = ["sorted_aggregation"]

    def __init__(self, hidden: int, layers: int, num_rbf: int, cutoff: float,
                 avg_neighbors: float) -> None:
        super().__init__()
        self.cutoff = float(cutoff)
        self.edges = _EdgeEncoder(num_rbf, cutoff)
        self.sorted_aggregation = False  # see set_sorted_aggregation
        self.sigma_emb = SigmaEmbedding(hidden)
        self.node_in = MLP(2 * hidden + 3, hidden, hidden, layer_norm=True)
        self.vec_in = nn.Linear(2, hidden, bias=False)
        self.layers = nn.ModuleList([PaiNNLayer(hidden, num_rbf + NUM_EDGE_TYPES, avg_neighbors)
                                     for _ in range(layers)])
        self.norm = nn.LayerNorm(hidden)
        self.gate = MLP(hidden, hidden, hidden)

    def forward(self, x: Tensor, sigma: Tensor, latent: Tensor, pos: Tensor, vel: Tensor,
                cg_bonds: Tensor, batch: Tensor, box: Tensor, disp_scale: Tensor,
                pairs: Tensor | None = None) -> Tensor:
        edge_index, edge_type, vec = build_edges(x, cg_bonds, batch, box, self.cutoff, pairs)
        offsets: Tensor | None = None
        if self.sorted_aggregation:
            edge_index, edge_type, vec, offsets = sort_by_target(edge_index, edge_type, vec,
                                                                 x.shape[0])
        feat, env, dist = self.edges(vec, edge_type)
        w = self.gate.lin1.weight.dtype
        unit = (vec / dist.unsqueeze(-1)).to(w)
        disp = (x - pos) / disp_scale
        inv = torch.stack([torch.sqrt((disp * disp).sum(-1) + 1e-12), (disp * vel).sum(-1),
                           torch.sqrt((vel * vel).sum(-1) + 1e-12)], -1)
        s = self.node_in(torch.cat([latent.to(x.dtype), self.sigma_emb(sigma).to(x.dtype), inv],
                                   -1).to(w))
        v = self.vec_in(torch.stack([disp, vel], -1).to(w))         # [N, 3, H]
        feat = feat.to(w)
        env = env.to(w)
        for layer in self.layers:
            s, v = layer(s, v, edge_index, feat, env, unit, offsets)
        s = self.norm(s)
        return _vector_readout(v, self.gate(s)).to(x.dtype) / sigma.unsqueeze(-1)
