"""QRS branch: Conv1d + bidirectional LSTM encoder and a transposed-convolution decoder."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class EncoderQRS(nn.Module):
    """Conv1d blocks (stride 2) then a bidirectional LSTM; outputs the Gaussian posterior (mu, logvar).

    Parameters
    ----------
    n_leads : int
        Input channels (8 leads).
    length : int
        Samples per lead (512); must be divisible by ``2 ** len(channels)``.
    channels : sequence of int
        Output channels of the convolution blocks.
    lstm_hidden : int
        Hidden size of each LSTM direction.
    latent : int
        Latent dimension.
    """

    def __init__(self, *, n_leads: int = 8, length: int = 512, channels: Sequence[int] = (32, 64, 128),
                 lstm_hidden: int = 128, latent: int = 64) -> None:
        super().__init__()
        if length % (2 ** len(channels)):
            raise ValueError(f"length must be divisible by {2 ** len(channels)}, got {length}")
        layers: list[nn.Module] = []
        cin = n_leads
        for c in channels:
            layers += [nn.Conv1d(cin, c, 5, stride=2, padding=2, bias=False), nn.BatchNorm1d(c), nn.ReLU(inplace=True)]
            cin = c
        self.conv = nn.Sequential(*layers)
        self.lstm = nn.LSTM(cin, lstm_hidden, batch_first=True, bidirectional=True)
        self.head = nn.Linear(4 * lstm_hidden, 2 * latent)  # [time mean, last fwd, last bwd] = 2h + 2h
        self.latent = latent

    def forward(self, qrs: Tensor) -> tuple[Tensor, Tensor]:
        """qrs (B, n_leads, length) -> mu (B, latent), logvar (B, latent)."""
        h = self.conv(qrs).transpose(1, 2)  # (B, T', C)
        out, (hn, _) = self.lstm(h)
        feat = torch.cat([out.mean(dim=1), torch.cat([hn[0], hn[1]], dim=-1)], dim=-1)
        mu, logvar = self.head(feat).chunk(2, dim=-1)
        return mu, logvar


class DecoderQRS(nn.Module):
    """Latent -> 8 x 512 QRS through a linear layer and transposed convolutions (x2 each).

    Parameters
    ----------
    latent : int
    n_leads, length : int
    channels : sequence of int
        Channels from the finest to the coarsest level (the encoder's order).
    """

    def __init__(self, *, latent: int, n_leads: int = 8, length: int = 512,
                 channels: Sequence[int] = (32, 64, 128)) -> None:
        super().__init__()
        chans = list(channels)[::-1]
        self.t0 = length // (2 ** len(chans))
        self.c0 = chans[0]
        self.fc = nn.Linear(latent, self.c0 * self.t0)
        layers: list[nn.Module] = []
        for cin, cout in zip(chans, chans[1:] + [chans[-1]]):
            layers += [nn.ConvTranspose1d(cin, cout, 4, stride=2, padding=1, bias=False), nn.BatchNorm1d(cout),
                       nn.ReLU(inplace=True)]
        layers.append(nn.Conv1d(chans[-1], n_leads, 5, padding=2))
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        """z (B, latent) -> (B, n_leads, length)."""
        return self.net(self.fc(z).view(-1, self.c0, self.t0))
