"""Low-precision copies of frozen weights (zeronas.nas.cast_cache): the same numbers as
autocast's own casts, reused while a weight is frozen and unchanged, never stale."""

from __future__ import annotations

import contextlib

import torch

from zeronas.config import Config
from zeronas.engine import SearchSpace, Session, search_iteration, split_halves, train_epoch
from zeronas.nas import cast_cache
from zeronas.nas.cast_cache import CastLinear
from zeronas.nas.genotype import fixed_genotype


def _bf16():
    return torch.autocast("cpu", dtype=torch.bfloat16)


def _params(s: Session) -> list[torch.Tensor]:
    return [p.detach().clone() for p in s.all_params]


def _search(task, cached: bool) -> list[torch.Tensor]:
    cfg = Config()
    cfg.search.g_widths = cfg.search.d_widths = (8, 8, 8, 8)
    cfg.search.batch_size = 16
    cfg.search.precision = "bf16"
    cfg.clswgan.pretrain_cls_epochs = 2
    torch.manual_seed(0)
    s = Session(cfg, task, torch.device("cpu"), SearchSpace(), cfg.search, pools=split_halves)
    with contextlib.nullcontext() if cached else cast_cache.disabled():
        for _ in range(2):
            search_iteration(s)
    return _params(s)


def _train(task, cached: bool) -> list[torch.Tensor]:
    cfg = Config()
    cfg.train.batch_size = 16
    cfg.train.precision = "bf16"
    cfg.clswgan.pretrain_cls_epochs = 2
    torch.manual_seed(0)
    s = Session(cfg, task, torch.device("cpu"), fixed_genotype(32), cfg.train)
    with contextlib.nullcontext() if cached else cast_cache.disabled():
        train_epoch(s)
    return _params(s)


def test_a_bf16_search_and_training_are_bit_identical_with_and_without_the_copies(synthetic_task):
    for run in (_search, _train):
        with_copies, without = run(synthetic_task, True), run(synthetic_task, False)
        assert all(torch.equal(a, b) for a, b in zip(with_copies, without, strict=True)), run.__name__


def test_a_frozen_weight_is_cast_once_and_reused():
    layer = CastLinear(6, 4).requires_grad_(False)
    x = torch.randn(3, 6)
    with _bf16():
        first = layer(x)
        copy = cast_cache.low_precision(layer.weight, torch.bfloat16)
        second = layer(x)
    assert copy is cast_cache.low_precision(layer.weight, torch.bfloat16)  # kept, not recast
    assert copy.dtype == torch.bfloat16 and torch.equal(first, second)
    with cast_cache.disabled(), _bf16():
        assert torch.equal(layer(x), first)  # autocast's own cast: the same numbers


def test_a_trainable_weight_takes_autocasts_path_and_gets_its_gradient():
    layer = CastLinear(6, 4)
    with _bf16():
        layer(torch.randn(3, 6)).sum().backward()
    assert layer.weight.grad is not None and layer.weight.grad.dtype == torch.float32
    assert cast_cache._COPIES.get(layer.weight) is None


def _fresh(layer: CastLinear, x: torch.Tensor) -> torch.Tensor:
    with cast_cache.disabled(), _bf16():
        return layer(x)


def test_the_copy_follows_every_change_of_the_weight():
    """An optimizer step (the fused Adam does not bump the version counter), an in-place
    write, ``load_state_dict`` and a new storage each make the next call recast."""
    torch.manual_seed(0)
    layer = CastLinear(6, 4)
    x = torch.randn(3, 6)
    opt = torch.optim.Adam(layer.parameters(), lr=0.1, fused=True)

    def frozen_out() -> torch.Tensor:
        layer.requires_grad_(False)
        with _bf16():
            out = layer(x)
        layer.requires_grad_(True)
        return out

    before = frozen_out()
    layer(x).pow(2).sum().backward()
    opt.step()
    after_step = frozen_out()
    assert not torch.equal(after_step, before) and torch.equal(after_step, _fresh(layer, x))

    with torch.no_grad():
        layer.weight.mul_(2.0)
    assert torch.equal(frozen_out(), _fresh(layer, x))

    layer.load_state_dict({"weight": torch.randn(4, 6), "bias": torch.randn(4)})
    assert torch.equal(frozen_out(), _fresh(layer, x))

    layer.weight.data = torch.randn(4, 6)
    assert torch.equal(frozen_out(), _fresh(layer, x))
