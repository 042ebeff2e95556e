"""Linear softmax classifiers: the frozen one inside the GAN loss and the final one."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LabelMap:
    """Maps global class ids to 0..k-1 for a classifier over a subset of classes."""

    def __init__(self, classes: torch.Tensor):
        self.classes = classes.cpu()
        self._lut = torch.full((int(self.classes.max()) + 1,), -1, dtype=torch.long)
        self._lut[self.classes] = torch.arange(self.classes.numel())

    def to_local(self, y: torch.Tensor) -> torch.Tensor:
        return self._lut.to(y.device)[y]

    def to_global(self, y_local: torch.Tensor) -> torch.Tensor:
        return self.classes.to(y_local.device)[y_local]


def train_softmax(
    x: torch.Tensor,
    y_local: torch.Tensor,
    n_classes: int,
    lr: float,
    epochs: int,
    batch_size: int,
    beta1: float = 0.5,
    model: nn.Linear | None = None,
    balanced: bool = False,
) -> nn.Linear:
    """Train a linear softmax classifier (``model``, or a new one) with Adam for a fixed
    number of epochs, then freeze it.

    The epoch count is fixed in advance (never picked on test accuracy). ``balanced``
    weights each class's loss by the inverse of its sample count, so that classes with many
    (synthetic) samples do not win by their prior.
    """
    if model is None:
        model = nn.Linear(x.shape[1], n_classes).to(x.device)
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(beta1, 0.999))
    weight = None
    if balanced:
        counts = torch.bincount(y_local, minlength=n_classes).float()
        weight = torch.where(counts > 0, y_local.numel() / (n_classes * counts.clamp(min=1)), 0.0)
    n = x.shape[0]
    for _ in range(epochs):
        perm = torch.randperm(n, device=x.device)
        for start in range(0, n, batch_size):
            idx = perm[start : start + batch_size]
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x[idx]), y_local[idx], weight=weight).backward()
            opt.step()
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model
