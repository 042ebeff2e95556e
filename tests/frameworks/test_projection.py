"""``model.critic_projection``: the critic every framework's losses see becomes ``D(x, c) + <W x, c>``."""

from __future__ import annotations

import pytest
import torch

from zeronas.engine import search_iteration
from zeronas.frameworks import REGISTRY
from zeronas.frameworks.base import Projection

from .test_frameworks import _changed, _values, searching, tiny_config, training

WITH_CRITIC = sorted(n for n, k in REGISTRY.items() if k.uses_critic)


@pytest.fixture
def task(synthetic_task):
    return synthetic_task


def test_projection_by_hand():
    proj = Projection(3, 2)
    with torch.no_grad():
        proj.weight.copy_(torch.tensor([[1.0, 0.0, 2.0], [0.0, -1.0, 0.0]]))
    x = torch.tensor([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])
    c = torch.tensor([[1.0, 1.0], [0.5, 2.0]])
    # W x = (7, -2) and (0, -1): <., c> = 5 and -2
    assert proj(x, c).squeeze(1).tolist() == pytest.approx([5.0, -2.0])


def test_off_by_default_and_zero_at_the_start(task):
    torch.manual_seed(0)
    plain = training(task, tiny_config("clswgan")).fw
    assert "projection" not in plain.extras and plain.critic is plain.D
    cfg = tiny_config("clswgan")
    cfg.model.critic_projection = True
    fw = training(task, cfg).fw
    x, c = task.train_x[:5], task.class_vectors[task.train_y[:5]]
    assert fw.critic is not fw.D
    assert torch.equal(fw.critic(x, c), fw.D(x, c))  # W starts at zero


@pytest.mark.parametrize("name", WITH_CRITIC)
def test_the_projection_learns_in_the_critic_steps_only(task, name):
    cfg = tiny_config(name)
    cfg.model.critic_projection = True
    torch.manual_seed(0)
    session = training(task, cfg)
    fw = session.fw
    w = fw.extras["projection"].weight
    assert any(p is w for p in session.params["w_d"]) and not any(p is w for p in session.params["w_g"])
    g_side = session.params["w_g"]
    g0 = _values(g_side)
    session.step("w_d", fw.critic_loss, "train")
    assert w.abs().sum() > 0 and not _changed(g0, g_side)
    w1 = w.detach().clone()
    session.step("w_g", fw.generator_loss, "train")
    assert torch.equal(w, w1)
    assert "projection.weight" in fw.state_dict()  # checkpointed with the framework's extras


def test_a_search_scores_with_the_projection_and_keeps_it_out_of_the_architecture(task):
    cfg = tiny_config("clswgan")
    cfg.model.critic_projection = True
    torch.manual_seed(0)
    session = searching(task, cfg)
    w = session.fw.extras["projection"].weight
    assert not any(p is w for p in session.params["a_d"])
    assert torch.isfinite(search_iteration(session)).all()
    assert w.abs().sum() > 0
