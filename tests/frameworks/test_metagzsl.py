"""Meta-GZSL: the first-order inner/outer update, the class-disjoint tasks, and its two meta
losses on the hand-checkable stand-ins of test_losses.py."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tests.frameworks.test_frameworks import tiny_config
from tests.frameworks.test_losses import REAL, C, LinearCritic, W, Y, hand_task
from zeronas.config import Config
from zeronas.engine import SearchSpace, Session, split_halves
from zeronas.frameworks.metagzsl import MetaGZSL, first_order_adapt, split_task, weight_names
from zeronas.nas.supernet import Supernet

CPU = torch.device("cpu")


# --------------------------------------------------------------------------- first-order MAML
def _scalar(w: float) -> nn.Linear:
    net = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        net.weight.fill_(w)
    return net


def _sq(net: nn.Module, x: float, t: float) -> torch.Tensor:
    """(w x - t)^2 for the scalar network."""
    return (net(torch.tensor([[x]])) - t).pow(2).sum()


@pytest.mark.parametrize(
    ("steps", "adapted", "meta_grad"),
    [
        # support (w - 0)^2 at x = 1: gradient 2w = 4 at w = 2, so w' = 2 - 0.1 * 4 = 1.6;
        # query (2w' - 1)^2: 2 * (3.2 - 1) * 2 = 8.8 at w' (second order would give 8.8 * 0.8)
        (1, 1.6, 8.8),
        # a second inner step from 1.6: gradient 3.2, w'' = 1.28; query gradient 2 * 1.56 * 2
        (2, 1.28, 6.24),
    ],
)
def test_meta_gradient_is_the_query_gradient_at_the_adapted_weights(steps, adapted, meta_grad):
    net = _scalar(2.0)
    fast, support = first_order_adapt(net, lambda n: _sq(n, 1.0, 0.0), lr=0.1, steps=steps)
    assert support.item() == pytest.approx(4.0)  # (2 * 1 - 0)^2, before adaptation
    assert net.weight.grad is None and net.weight.item() == 2.0  # nothing left behind, nothing moved
    assert fast.tensors["weight"].item() == pytest.approx(adapted)
    _sq(fast, 2.0, 1.0).backward()
    assert net.weight.grad.item() == pytest.approx(meta_grad)


def test_inner_steps_adapt_only_weights_and_change_nothing_in_place():
    torch.manual_seed(0)
    net = Supernet("critic", (3, 2), (4,), 1).train()
    before = {k: v.clone() for k, v in net.state_dict(keep_vars=False).items()}
    params = dict(net.named_parameters())
    x, c = torch.randn(6, 3), torch.randn(6, 2)
    fast, _ = first_order_adapt(net, lambda n: n(x, c).pow(2).mean(), lr=0.5, steps=2)
    assert set(fast.tensors) == set(weight_names(net))
    assert {"alpha", "beta"}.isdisjoint(fast.tensors)
    assert {id(params[n]) for n in weight_names(net)} == {id(p) for p in net.weight_parameters()}
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # BN statistics included
    assert all(p.grad is None for p in net.parameters())
    assert any(not torch.equal(fast.tensors[n], params[n]) for n in fast.tensors)  # it did adapt
    # the architecture parameters get the query loss's gradient at the adapted weights
    fast(x, c).sum().backward()
    assert net.alpha.grad is not None and net.alpha.grad.abs().sum() > 0


# --------------------------------------------------------------------------- tasks
def test_support_and_query_classes_are_disjoint_and_cover_the_batch():
    torch.manual_seed(0)
    y = torch.tensor([4, 1, 4, 7, 9, 1, 1, 7, 2])
    for _ in range(20):
        task = split_task(y)
        assert task is not None
        s, q = task
        assert set(y[s].tolist()).isdisjoint(y[q].tolist())
        assert sorted(s.tolist() + q.tolist()) == list(range(len(y)))
        assert len(set(y[s].tolist())) == 2 and len(set(y[q].tolist())) == 3  # half the 5 classes
    assert split_task(torch.tensor([3, 3, 3])) is None  # one class
    assert split_task(torch.tensor([3, 3, 3, 5])) is None  # one side would be a single row


# --------------------------------------------------------------------------- the meta losses
class ScaledClassVectorG(nn.Module):
    """``G(z, c) = s c``, one weight ``s``."""

    def __init__(self, s: float):
        super().__init__()
        self.s = nn.Parameter(torch.tensor(s))

    def forward(self, z: torch.Tensor, c: torch.Tensor, feedback: torch.Tensor | None = None) -> torch.Tensor:
        return self.s * c


def hand_framework() -> MetaGZSL:
    cfg = Config()
    cfg.metagzsl.inner_lr, cfg.metagzsl.inner_steps = 0.1, 1
    return MetaGZSL(ScaledClassVectorG(1.0), LinearCritic(W), hand_task(), cfg, cls_weight=0.0, gp_weight=0.0)


# each hand row twice: a task needs two rows on each side; the means, so the numbers, are the same
ROWS = [0, 0, 1, 1]
X2, C2, Y2 = REAL[ROWS], C[ROWS], Y[ROWS]


def _each_split(loss_of, cases: dict[int, tuple[float, float, list[float]]], param: torch.Tensor) -> None:
    """Run ``loss_of()`` under seeds giving each support class; check (loss, support, grad)."""
    seen = set()
    for seed in range(20):
        torch.manual_seed(seed)
        task = split_task(Y2)
        assert task is not None
        s = task[0]
        torch.manual_seed(seed)  # the loss draws the same split first
        loss, support = loss_of()
        value, before, grad = cases[Y2[s[0]].item()]
        assert loss.item() == pytest.approx(value) and support.item() == pytest.approx(before)
        param.grad = None
        loss.backward()
        torch.testing.assert_close(param.grad, torch.tensor(grad))
        seen.add(Y2[s[0]].item())
    assert seen == {3, 5}


def test_critic_meta_loss_by_hand():
    fw = hand_framework()
    D = fw.critic
    # gp 0, fakes = c: loss(w) = -(x - c) . w, gradient c - x. Support class 3 (x (1,1), c (1,0)):
    # before -(1 - 2) = 1, gradient (0,-1), w' = (2,-0.9); query class 5 (x (2,0), c (0,1)):
    # -(4 + 0.9) = -4.9, meta-gradient c - x = (-2, 1). Support class 5: before -(4 + 1) = -5,
    # gradient (-2, 1), w' = (2.2,-1.1); query class 3: -(1.1 - 2.2) = 1.1, gradient (0, -1).
    cases = {3: (-4.9, 1.0, [-2.0, 1.0]), 5: (1.1, -5.0, [0.0, -1.0])}

    def loss_of():
        loss, stats = fw.critic_loss(X2, C2, Y2)
        assert torch.equal(D.w, torch.tensor(W))
        return loss, stats["critic_support"]

    _each_split(loss_of, cases, D.w)


def test_generator_meta_loss_by_hand():
    fw = hand_framework()
    G = fw.G
    # cls weight 0, D(s c) = s (c . w) with c . w = 2 (class 3) and -1 (class 5); loss -mean D.
    # Support class 3: -2s, gradient -2, s' = 1.2; query class 5: s' = 1.2, meta-gradient 1.
    # Support class 5: s, gradient 1, s' = 0.9; query class 3: -2 * 0.9 = -1.8, gradient -2.
    cases = {3: (1.2, -2.0, 1.0), 5: (-1.8, 1.0, -2.0)}

    def loss_of():
        loss, stats = fw.generator_loss(X2, C2, Y2)
        assert G.s.item() == 1.0
        return loss, stats["generator_support"]

    _each_split(loss_of, cases, G.s)


def test_a_batch_without_a_task_is_a_plain_clswgan_step():
    fw = hand_framework()
    x, c, y = REAL[[0, 0, 1]], C[[0, 0, 1]], Y[[0, 0, 1]]  # class 5 has one row
    # loss(w) = -mean (x - c) . w: -(1 - 2) for class 3's rows and -(4 + 1) for class 5's
    loss, stats = fw.critic_loss(x, c, y)
    assert loss.item() == pytest.approx((1 + 1 - 5) / 3) and stats["critic_support"].item() == pytest.approx(-1.0)


def test_architecture_steps_move_alpha_and_beta_only(synthetic_task):
    torch.manual_seed(0)
    cfg = tiny_config("metagzsl")
    cfg.metagzsl.inner_steps = 2
    session = Session(cfg, synthetic_task, CPU, SearchSpace(), cfg.search, pools=split_halves)
    for side, loss in (("d", session.fw.critic_loss), ("g", session.fw.generator_loss)):
        arch, weights = session.params[f"a_{side}"], session.params[f"w_{side}"]
        a0, w0 = [p.detach().clone() for p in arch], [p.detach().clone() for p in weights]
        session.step(f"a_{side}", loss, "val")
        assert any(not torch.equal(a, p) for a, p in zip(a0, arch, strict=True))
        assert all(torch.equal(w, p) for w, p in zip(w0, weights, strict=True))
