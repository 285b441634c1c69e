"""The classifiers in PyTorch. Shapes and parameter counts equal the original Keras models (a Keras
GRU with reset_after=True has torch's two bias vectors; Keras's LSTM has one, so torch's second LSTM
bias is frozen at zero). Models return logits; ``probabilities`` applies the softmax output layer."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..core.registry import MODELS
from ..core.schema import LLF_NAMES, N_ROWS
from . import (
    ATTENTION_HEADS,
    ATTENTION_KEY_DIM,
    ATTENTION_UNITS,
    CLOUD_WIDTHS,
    DROPOUT,
    N_CLASSES,
    PAIR_BLOCKS,
    PAIR_EMBEDDING,
    PAIR_FEATURES,
    PAIR_HEADS,
    PAIR_HIDDEN,
    PAIR_WIDTH,
    RNN_UNITS,
    ROW_UNITS,
)
from .gru_kernels import last_states


class SequenceBranch(nn.Module):
    """Masking(0.0) -> GRU/LSTM(50) -> Dropout(0.2) over the (steps, 19) particle rows.

    Keras's Masking skips the rows whose 19 values are all zero, wherever they are, and carries the
    state across them; here the real rows are moved before the zero ones (in order) and the state is
    read after the last real row: the same result. With per-event standardisation no row is zero, as in
    the original, and all rows are read. On CPU the GRU runs as compiled loops (``gru_kernels``), with
    this module's ``nn.GRU`` parameters; the ONNX export and GPUs use ``nn.GRU`` itself.
    """

    def __init__(self, cell: str, n_features: int = 19):
        super().__init__()
        self.rnn = (nn.GRU if cell == "gru" else nn.LSTM)(n_features, RNN_UNITS, batch_first=True)
        if cell == "lstm":
            self.rnn.bias_hh_l0.data.zero_()
            self.rnn.bias_hh_l0.requires_grad_(False)
        self.dropout = nn.Dropout(DROPOUT)

    def forward(self, particles: torch.Tensor) -> torch.Tensor:
        real = (particles != 0).any(dim=2)
        length = real.sum(dim=1)
        if torch.onnx.is_in_onnx_export():
            # An exported graph has no data-dependent steps: it reads the rows as given, so its callers put
            # each event's real rows first (as the compact batches do); the rows after them change no state read.
            outputs, _ = self.rnn(particles)
        else:
            first = torch.arange(particles.shape[1], device=particles.device)[None, :] < length[:, None]
            if not torch.equal(real, first):  # zero rows before real ones
                order = torch.argsort((~real).to(torch.int8), dim=1, stable=True)
                particles = particles.gather(1, order.unsqueeze(2).expand_as(particles))
            particles = particles[:, : int(length.max().clamp(min=1))]  # rows after every event's last real one: skipped
            if isinstance(self.rnn, nn.GRU) and particles.device.type == "cpu" and particles.dtype == torch.float32:
                return self.dropout(last_states(self.rnn, particles, length))
            outputs, _ = self.rnn(particles)
        state = outputs[torch.arange(particles.shape[0], device=particles.device), (length - 1).clamp(min=0)]
        return self.dropout(torch.where(length[:, None] > 0, state, torch.zeros_like(state)))


class AttentionBranch(nn.Module):
    """The original Transformer's branch over the dense (801, 19) rows: multi-head self-attention (8 heads
    of key size 19, as Keras's MultiHeadAttention: per-head projections of the 19 features, outputs
    projected back to 19) -> LayerNorm(eps 1e-6) -> Dropout 0.2 -> Dense(20, ReLU) per row -> Flatten ->
    Dense(10, ReLU). As in the original: no residual connection and no mask (padding rows are attended
    to), so it reads all 801 rows in their places. 172,675 parameters."""

    def __init__(self, n_features: int = 19, steps: int = N_ROWS):
        super().__init__()
        width = ATTENTION_HEADS * ATTENTION_KEY_DIM
        self.query, self.key, self.value = (nn.Linear(n_features, width) for _ in range(3))
        self.attention_output = nn.Linear(width, n_features)
        self.norm = nn.LayerNorm(n_features, eps=1e-6)
        self.dropout = nn.Dropout(DROPOUT)
        self.rows = nn.Sequential(nn.Linear(n_features, ROW_UNITS), nn.ReLU())
        self.dense = nn.Sequential(nn.Linear(steps * ROW_UNITS, ATTENTION_UNITS), nn.ReLU())

    def forward(self, particles: torch.Tensor) -> torch.Tensor:
        events, steps, _ = particles.shape
        heads = [
            projection(particles).view(events, steps, ATTENTION_HEADS, ATTENTION_KEY_DIM).transpose(1, 2)
            for projection in (self.query, self.key, self.value)
        ]
        attended = nn.functional.scaled_dot_product_attention(*heads)  # softmax(q k^T / sqrt(19)) v, per head
        attended = self.attention_output(attended.transpose(1, 2).reshape(events, steps, -1))
        return self.dense(self.rows(self.dropout(self.norm(attended))).flatten(1))


ENERGY, PX, PY, PZ, PT, ETA, PHI = (LLF_NAMES.index(name) for name in ("Energy", "Px", "Py", "Pz", "Pt", "Eta", "Phi"))
# Added per row position to tied float64 keys of the particle clouds' top-k choices (far below any real
# difference of float32 features).
TIE_BREAK = 1e-12


class EdgeConv(nn.Module):
    """One EdgeConv block (ParticleNet): for each particle, an MLP of (itself, neighbour - itself) over
    its ``neighbours`` nearest real neighbours in ``coordinates``, averaged, plus a linear shortcut."""

    def __init__(self, inputs: int, width: int, neighbours: int):
        super().__init__()
        self.neighbours = neighbours
        self.edge = nn.Sequential(nn.Linear(2 * inputs, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU())
        self.shortcut = nn.Linear(inputs, width)

    def forward(self, coordinates: torch.Tensor, features: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        events, particles, channels = features.shape
        neighbours = min(self.neighbours, particles - 1)
        # Squared distances by |a|^2 + |b|^2 - 2ab (as cdist computes them for many points, and exportable), in
        # float64: in float32 its cancellation reorders near neighbours differently in torch and onnxruntime.
        points = coordinates.double()
        square = (points**2).sum(2)
        distance = square[:, :, None] + square[:, None, :] - 2 * points @ points.transpose(1, 2)
        # Equal distances (particles in one calorimeter tower) broken by position, as onnxruntime's TopK
        # does and torch's need not: the same neighbours in both.
        distance = distance + TIE_BREAK * torch.arange(particles, device=features.device, dtype=distance.dtype)
        # Padding rows and the particle itself are never neighbours.
        distance = distance.masked_fill(~real[:, None, :] | torch.eye(particles, dtype=torch.bool, device=features.device), float("inf"))
        nearest = distance.topk(neighbours, dim=2, largest=False)
        index = nearest.indices.reshape(events, -1, 1).expand(-1, -1, channels)
        others = features.gather(1, index).view(events, particles, neighbours, channels)
        centre = features[:, :, None].expand_as(others)
        edges = self.edge(torch.cat([centre, others - centre], dim=3))
        valid = torch.isfinite(nearest.values)[..., None].to(edges.dtype)
        pooled = (edges * valid).sum(2) / valid.sum(2).clamp(min=1)
        return torch.relu(pooled + self.shortcut(features)) * real[..., None]


class ParticleCloudBranch(nn.Module):
    """A permutation-invariant branch over the leading ``particles`` real particles by pT: EdgeConv
    on the (eta, phi) neighbours, EdgeConv on the neighbours in the first block's features (a dynamic
    graph, as ParticleNet), and the mean and the maximum over the real particles. Each particle also
    reads its (eta, phi) offset from the isolated lepton, the last real row (the rows come sorted by
    decreasing ΔR to it): the frame the GRU reads the particles in, which absolute coordinates lack.
    Dropout 0.2 after the pooling, as after the GRU branch. The order of the other rows and where the
    padding is do not matter. Padding rows must be zero (global scaling); the coordinates are the scaled
    eta and phi, without phi's wrap-around."""

    def __init__(self, particles: int, neighbours: int, n_features: int = 19):
        super().__init__()
        self.particles = particles
        widths = (n_features + 2, *CLOUD_WIDTHS)
        self.blocks = nn.ModuleList(EdgeConv(inputs, width, neighbours) for inputs, width in zip(widths, widths[1:]))
        self.dropout = nn.Dropout(DROPOUT)

    def forward(self, particles: torch.Tensor) -> torch.Tensor:
        lepton = last_real_row(particles)[:, None, [ETA, PHI]]
        features, real = leading_particles(particles, self.particles)
        coordinates = features[..., [ETA, PHI]]
        features = torch.cat([features, (coordinates - lepton) * real[..., None]], dim=2)
        for block in self.blocks:
            features = block(coordinates, features, real)
            coordinates = features
        mean = features.sum(1) / real.sum(1, keepdim=True).clamp(min=1)
        return self.dropout(torch.cat([mean, features.amax(1)], dim=1))  # (the blocks' outputs are >= 0 and zero on padding)


def last_real_row(particles: torch.Tensor) -> torch.Tensor:
    """Each event's last real row (a zero row where it has none)."""
    real = (particles != 0).any(dim=2)
    position = torch.arange(particles.shape[1], device=particles.device)
    last = (position * real).argmax(dim=1)
    return particles[torch.arange(particles.shape[0], device=particles.device), last]


def leading_particles(particles: torch.Tensor, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``count`` leading real particles of each event by pT (fewer where the rows are fewer) and which
    of them are real: the particle clouds read the rows as a set, in no order."""
    real = (particles != 0).any(dim=2)
    position = torch.arange(particles.shape[1], device=particles.device, dtype=torch.float64)
    pt = particles[..., PT].double() - TIE_BREAK * position  # equal pT: the earlier row first, in every runtime
    leading = pt.masked_fill(~real, float("-inf")).topk(min(count, particles.shape[1]), dim=1).indices
    return particles.gather(1, leading[..., None].expand(-1, -1, particles.shape[2])), real.gather(1, leading)


class PairAttentionBlock(nn.Module):
    """A ParT particle-attention block (pre-LayerNorm): multi-head self-attention whose logits carry a
    per-head bias from the particles' pairwise features, then an MLP, each with a residual connection."""

    def __init__(self):
        super().__init__()
        self.norm_attention, self.norm_mlp = nn.LayerNorm(PAIR_WIDTH), nn.LayerNorm(PAIR_WIDTH)
        self.qkv, self.output = nn.Linear(PAIR_WIDTH, 3 * PAIR_WIDTH), nn.Linear(PAIR_WIDTH, PAIR_WIDTH)
        self.mlp = nn.Sequential(nn.Linear(PAIR_WIDTH, PAIR_HIDDEN), nn.GELU(), nn.Linear(PAIR_HIDDEN, PAIR_WIDTH))

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        events, particles, _ = x.shape
        q, k, v = self.qkv(self.norm_attention(x)).view(events, particles, 3, PAIR_HEADS, -1).permute(2, 0, 3, 1, 4)
        # softmax(q k^T / sqrt(d) + bias) v, written out: torch's exporter cannot reshape the fused kernel's output.
        weights = torch.softmax(q @ k.transpose(2, 3) / q.shape[-1] ** 0.5 + bias, dim=3)
        x = x + self.output((weights @ v).transpose(1, 2).flatten(2))
        return x + self.mlp(self.norm_mlp(x))


class PairAttentionBranch(nn.Module):
    """A ParT-style branch over the leading ``particles`` real particles by pT: each particle embedded with
    its (eta, phi) offset from the isolated lepton (as the EdgeConv branch), ``PAIR_BLOCKS`` attention
    blocks biased per head by an MLP of the pair's interaction features (ParT's ln Δ, ln k_T, ln z,
    ln m², batch-normalised), and the mean over the real particles. The pair features need the unscaled
    momenta: ``scaling`` holds the global particle scaling's per-feature ``mean`` and ``std`` (the feature
    directory's particle-scaling file; none: the rows are unscaled). Padding particles are never attended to."""

    def __init__(self, particles: int, scaling: dict | None = None, n_features: int = 19):
        super().__init__()
        self.particles = particles
        scaling = scaling or {"mean": [0.0] * n_features, "std": [1.0] * n_features}
        self.register_buffer("mean", torch.tensor(scaling["mean"], dtype=torch.float32), persistent=False)
        self.register_buffer("std", torch.tensor(scaling["std"], dtype=torch.float32), persistent=False)
        self.embed = nn.Sequential(nn.Linear(n_features + 2, PAIR_WIDTH), nn.GELU(), nn.Linear(PAIR_WIDTH, PAIR_WIDTH))
        self.pair_norm = nn.BatchNorm1d(PAIR_FEATURES)
        self.pair = nn.Sequential(nn.Linear(PAIR_FEATURES, PAIR_EMBEDDING), nn.GELU(), nn.Linear(PAIR_EMBEDDING, PAIR_HEADS))
        self.blocks = nn.ModuleList(PairAttentionBlock() for _ in range(PAIR_BLOCKS))
        self.norm = nn.LayerNorm(PAIR_WIDTH)

    def forward(self, particles: torch.Tensor) -> torch.Tensor:
        lepton = last_real_row(particles)[:, None, [ETA, PHI]]
        features, real = leading_particles(particles, self.particles)
        pairs = pair_features(features * self.std + self.mean)
        events, count = pairs.shape[:2]
        pairs = self.pair_norm(pairs.reshape(-1, PAIR_FEATURES)).view(events, count, count, PAIR_FEATURES)
        bias = self.pair(pairs).permute(0, 3, 1, 2)  # (events, heads, i, j)
        # Padding never attended to (a large finite penalty, not -inf: an event without particles stays finite).
        bias = bias.masked_fill(~real[:, None, None, :], -1e9)
        coordinates = features[..., [ETA, PHI]]
        x = self.embed(torch.cat([features, (coordinates - lepton) * real[..., None]], dim=2))
        for block in self.blocks:
            x = block(x, bias)
        x = self.norm(x) * real[..., None]
        return x.sum(1) / real.sum(1, keepdim=True).clamp(min=1)


def pair_features(rows: torch.Tensor) -> torch.Tensor:
    """ParT's interaction features of every pair (i, j) of unscaled particle rows (events, n, 19):
    ln Δ (Δ the η-φ distance, φ wrapped), ln k_T = ln(min(pT) Δ), ln z = ln(min(pT) / (pT_i + pT_j)) and
    ln m² of the pair's four-momentum (GeV), floored where they vanish (a particle with itself, padding,
    collinear massless pairs): Δ at 1e-4, pT at 1e-3 GeV, the rest at 1e-8; (events, n, n, 4)."""
    eta, phi, pt, energy = rows[..., ETA], rows[..., PHI], rows[..., PT].clamp(min=1e-3), rows[..., ENERGY]
    dphi = torch.remainder(phi[:, :, None] - phi[:, None] + math.pi, 2 * math.pi) - math.pi
    delta = ((eta[:, :, None] - eta[:, None]).square() + dphi.square()).clamp(min=1e-8).sqrt()
    softer = torch.minimum(pt[:, :, None], pt[:, None])
    momentum = rows[..., [PX, PY, PZ]]
    mass2 = (energy[:, :, None] + energy[:, None]).square() - (momentum[:, :, None] + momentum[:, None]).square().sum(3)
    features = (delta, softer * delta, softer / (pt[:, :, None] + pt[:, None]), mass2)
    return torch.stack([value.clamp(min=1e-8).log() for value in features], dim=3)


# The particle branches it builds (None: the HLF network).
BRANCHES = (None, "gru", "lstm", "attention", "edgeconv", "pairattention")


class HLFClassifier(nn.Module):
    """14 HLF -> Dense 50-20-10 ReLU -> softmax(3): 2,013 parameters."""

    def __init__(self, n_hlf: int = 14):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_hlf, 50), nn.ReLU(), nn.Linear(50, 20), nn.ReLU(), nn.Linear(20, 10), nn.ReLU(), nn.Linear(10, N_CLASSES)
        )

    def forward(self, hlf: torch.Tensor) -> torch.Tensor:
        return self.net(hlf)


class ParticleClassifier(nn.Module):
    """(801, 19) -> Masking -> GRU(50) -> Dropout 0.2 -> softmax(3): 10,803 parameters."""

    def __init__(self, cell: str = "gru"):
        super().__init__()
        self.sequence = SequenceBranch(cell)
        self.output = nn.Linear(RNN_UNITS, N_CLASSES)

    def forward(self, particles: torch.Tensor) -> torch.Tensor:
        return self.output(self.sequence(particles))


class InclusiveClassifier(nn.Module):
    """GRU branch || Dropout 0.2 on the 14 HLF -> Dense 25 ReLU -> softmax(3): 12,353 parameters
    (15,703 with an LSTM; 173,378 with the Transformer branch; 17,221 with the EdgeConv cloud; 20,321 with
    the particle transformer)."""

    def __init__(self, cell: str = "gru", n_hlf: int = 14, particle_cloud: dict | None = None, particle_moments: dict | None = None):
        super().__init__()
        branches = {
            "attention": (AttentionBranch, ATTENTION_UNITS),
            "edgeconv": (lambda: ParticleCloudBranch(**particle_cloud), 2 * CLOUD_WIDTHS[-1]),  # mean and maximum
            "pairattention": (lambda: PairAttentionBranch(particle_cloud["particles"], particle_moments), PAIR_WIDTH),  # every pair
        }
        branch, branch_units = branches.get(cell, (lambda: SequenceBranch(cell), RNN_UNITS))
        self.sequence = branch()
        self.hlf_dropout = nn.Dropout(DROPOUT)
        self.head = nn.Sequential(nn.Linear(branch_units + n_hlf, 25), nn.ReLU(), nn.Linear(25, N_CLASSES))

    def forward(self, particles: torch.Tensor, hlf: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([self.sequence(particles), self.hlf_dropout(hlf)], dim=1))


def build(model: str, particle_cloud: dict | None = None, particle_moments: dict | None = None) -> nn.Module:
    """A fresh model; its ``forward`` takes the inputs named in ``MODELS[model]``, in that order.
    ``particle_cloud``: the particle cloud's ``particles`` and ``neighbours`` (config train.particle_cloud);
    ``particle_moments``: the particle rows' global scaling (``mean``, ``std``), which the particle
    transformer undoes for its pair features."""
    cell = MODELS[model].branch
    if model == "hlf":
        return HLFClassifier()
    if model == "particle":
        return ParticleClassifier(cell)
    return InclusiveClassifier(cell, particle_cloud=particle_cloud, particle_moments=particle_moments)


class Ensemble(nn.Module):
    """Networks of one kind trained with different seeds, as one: its outputs are logits whose softmax is
    the members' class probabilities averaged (the log of that average, computed stably)."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        logs = torch.stack([torch.log_softmax(member(*inputs), dim=1) for member in self.members])
        return torch.logsumexp(logs, dim=0) - math.log(len(self.members))


def load(path: str) -> nn.Module:
    """A trained model from the torch engine's model file, in evaluation mode: the network, or the
    ensemble of its members."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    shape = (state["model"], state.get("particle_cloud"), state.get("particle_moments"))  # (absent from files of the models without them)
    members = [build(*shape) for _ in state["state_dicts"]]
    for member, weights in zip(members, state["state_dicts"]):
        member.load_state_dict(weights)
    return (members[0] if len(members) == 1 else Ensemble(members)).eval()


def trainable_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def probabilities(logits: torch.Tensor) -> torch.Tensor:
    return torch.softmax(logits, dim=1)
