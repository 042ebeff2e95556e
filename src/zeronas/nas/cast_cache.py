"""Low-precision copies of frozen weights, cast once per update instead of once per call.

Under ``torch.autocast`` every ``F.linear`` casts its fp32 weight to bf16, and autocast keeps
that copy only for trainable leaves and only until its context closes. An update step of the
search or the training freezes every parameter set but one, so the frozen networks (G in the
critic steps, the critic in its own architecture steps) were cast again at every call, though
their weights had not changed. :class:`CastLinear` keeps one low-precision copy per frozen
weight, reused while the weight is unchanged: it is dropped when an optimizer steps the weight
(a global optimizer hook: the fused Adam updates in place without bumping the tensor's version
counter) and recast when the tensor's version or storage changed (``load_state_dict``,
``copy_``, ``.to()``). Trainable weights take autocast's own path. The copy is exactly
autocast's cast, so results are bit-identical with or without it
(``tests/nas/test_cast_cache.py``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.optimizer import Optimizer, register_optimizer_step_post_hook
from torch.utils.weak import WeakIdKeyDictionary

_COPIES = WeakIdKeyDictionary()  # parameter -> (its version and storage address when cast, the copy)
_enabled = True


def _forget_stepped(optimizer: Optimizer, args: object, kwargs: object) -> None:
    if _COPIES:
        for group in optimizer.param_groups:
            for p in group["params"]:
                _COPIES.pop(p, None)


register_optimizer_step_post_hook(_forget_stepped)


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """Within the block, :class:`CastLinear` is a plain ``nn.Linear`` (for comparisons)."""
    global _enabled
    before, _enabled = _enabled, False
    try:
        yield
    finally:
        _enabled = before


def low_precision(p: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``p`` as ``dtype``: the kept copy while ``p`` is unchanged, else a new one, kept."""
    stamp = (p._version, p.data_ptr())
    kept = _COPIES.get(p)
    if kept is not None and kept[:2] == stamp and kept[2].dtype == dtype:
        return kept[2]
    low = p.detach().to(dtype)
    _COPIES[p] = (*stamp, low)
    return low


class CastLinear(nn.Linear):
    """``nn.Linear`` whose frozen parameters enter a low-precision autocast region through
    :func:`low_precision`. The same parameters and state-dict keys as ``nn.Linear``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kind = x.device.type
        if not (_enabled and torch.is_autocast_enabled(kind)):
            return super().forward(x)
        dtype = torch.get_autocast_dtype(kind)
        weight: torch.Tensor = self.weight
        bias: torch.Tensor | None = self.bias
        # trainable (or substituted, as by torch.func.functional_call): autocast casts it
        if isinstance(weight, nn.Parameter) and not weight.requires_grad:
            weight = low_precision(weight, dtype)
        if isinstance(bias, nn.Parameter) and not bias.requires_grad:
            bias = low_precision(bias, dtype)
        return F.linear(x, weight, bias)
