"""The classifiers in PyTorch. Shapes and parameter counts equal the original Keras models (a Keras
GRU with reset_after=True has torch's two bias vectors; Keras's LSTM has one, so torch's second LSTM
bias is frozen at zero). Models return logits; ``probabilities`` applies the softmax output layer."""

from __future__ import annotations

import torch
from torch import nn

from . import DROPOUT, MODELS, N_CLASSES, RNN_UNITS


class SequenceBranch(nn.Module):
    """Masking(0.0) -> GRU/LSTM(50) -> Dropout(0.2) over the (steps, 19) particle rows.

    Keras's Masking skips the rows whose 19 values are all zero, wherever they are, and carries the
    state across them; here the real rows are moved before the zero ones (in order) and the state is
    read after the last real row: the same result. With per-event standardisation no row is zero, as in
    the original, and all rows are read.
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
        first = torch.arange(particles.shape[1], device=particles.device)[None, :] < length[:, None]
        if not torch.equal(real, first):  # zero rows before real ones
            order = torch.argsort((~real).to(torch.int8), dim=1, stable=True)
            particles = particles.gather(1, order.unsqueeze(2).expand_as(particles))
        outputs, _ = self.rnn(particles[:, : int(length.max().clamp(min=1))])  # rows after every event's last real one: skipped
        state = outputs[torch.arange(particles.shape[0], device=particles.device), (length - 1).clamp(min=0)]
        return self.dropout(torch.where(length[:, None] > 0, state, torch.zeros_like(state)))


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
    (15,703 with an LSTM)."""

    def __init__(self, cell: str = "gru", n_hlf: int = 14):
        super().__init__()
        self.sequence = SequenceBranch(cell)
        self.hlf_dropout = nn.Dropout(DROPOUT)
        self.head = nn.Sequential(nn.Linear(RNN_UNITS + n_hlf, 25), nn.ReLU(), nn.Linear(25, N_CLASSES))

    def forward(self, particles: torch.Tensor, hlf: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([self.sequence(particles), self.hlf_dropout(hlf)], dim=1))


def build(model: str) -> nn.Module:
    """A fresh model; its ``forward`` takes the inputs named in ``MODELS[model]``, in that order."""
    cell = MODELS[model][1]
    if model == "hlf":
        return HLFClassifier()
    return ParticleClassifier(cell) if model == "particle" else InclusiveClassifier(cell)


def trainable_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def probabilities(logits: torch.Tensor) -> torch.Tensor:
    return torch.softmax(logits, dim=1)
