"""Optimizers and the freezing of parameter sets: what one update step needs."""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from zeronas.config import SearchConfig


def set_trainable(params: list[nn.Parameter], trainable: list[nn.Parameter]) -> None:
    """Freeze every parameter in ``params`` except those in ``trainable``."""
    keep = {id(p) for p in trainable}
    for p in params:
        p.requires_grad_(id(p) in keep)


def adam(
    main: list[nn.Parameter], extra_groups: list[dict], lr: float, beta1: float, weight_decay: float = 0.0
) -> torch.optim.Adam:
    """Adam over ``main`` and a framework's extra groups (which may set their own lr/betas);
    the fused implementation (one kernel per step instead of one per parameter) where every
    parameter is on a device that has it."""
    params = main + [p for g in extra_groups for p in g["params"]]
    fused = all(p.device.type in ("cpu", "cuda") for p in params)
    return torch.optim.Adam(
        [{"params": main}, *extra_groups], lr=lr, betas=(beta1, 0.999), weight_decay=weight_decay, fused=fused
    )


def arch_optimizer(params: list[nn.Parameter], search: SearchConfig) -> torch.optim.Adam:
    """The optimizer of one network's architecture parameters (alpha, beta)."""
    return adam(params, [], search.arch_lr, search.arch_beta1, search.arch_weight_decay)


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """The arithmetic of an update step's forward pass: ``fp32``, or ``bf16`` through
    ``torch.autocast`` (matrix products in bfloat16, parameters and optimizer in fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)
