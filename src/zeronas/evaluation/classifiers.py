"""Linear softmax classifiers: the frozen one inside the GAN loss and the final one."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from zeronas.config import EvalConfig


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
    schedule: str = "constant",
) -> nn.Linear:
    """Train a linear softmax classifier (``model``, or a new one) with Adam for a fixed
    number of epochs, then freeze it.

    The epoch count is fixed in advance (never picked on test accuracy). ``balanced``
    weights each class's loss by the inverse of its sample count, so that classes with many
    (synthetic) samples do not win by their prior. ``schedule="cosine"`` anneals the learning
    rate to 0 over the steps: at a constant rate high enough to converge in time, the last
    iterate, the one kept, is a noisy point of Adam's path.
    """
    if model is None:
        model = nn.Linear(x.shape[1], n_classes).to(x.device)
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(beta1, 0.999))
    n = x.shape[0]
    steps = epochs * math.ceil(n / batch_size)
    sched = _lr_schedule(opt, schedule, steps)
    weight = None
    if balanced:
        counts = torch.bincount(y_local, minlength=n_classes).float()
        weight = torch.where(counts > 0, y_local.numel() / (n_classes * counts.clamp(min=1)), 0.0)
    for _ in range(epochs):
        perm = torch.randperm(n, device=x.device)
        for start in range(0, n, batch_size):
            idx = perm[start : start + batch_size]
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x[idx]), y_local[idx], weight=weight).backward()
            opt.step()
            if sched is not None:
                sched.step()
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _lr_schedule(opt: torch.optim.Optimizer, schedule: str, steps: int) -> torch.optim.lr_scheduler.LambdaLR | None:
    """The learning-rate scheduler of ``schedule`` over ``steps`` steps; ``None`` for a constant
    rate, which has nothing to step."""
    if schedule == "constant":
        return None
    if schedule == "cosine":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 0.5 * (1.0 + math.cos(math.pi * t / steps)))
    raise ValueError(f"unknown classifier schedule {schedule!r}; expected constant | cosine")


def train_final_softmax(
    x: torch.Tensor, y_local: torch.Tensor, n_classes: int, cfg: EvalConfig, lr: float, balanced: bool = False
) -> nn.Linear:
    """A final (ZSL or GZSL) classifier at learning rate ``lr``, with ``cfg``'s epochs, batch and
    schedule (``eval.final_cls_*``)."""
    return train_softmax(
        x,
        y_local,
        n_classes,
        lr,
        cfg.final_cls_epochs,
        cfg.final_cls_batch,
        balanced=balanced,
        schedule=cfg.final_cls_schedule,
    )
