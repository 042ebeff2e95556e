"""AFC-GAN: its loss terms on hand-checked cases, and what its steps read and update."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from tests.frameworks.test_frameworks import tiny_config, training
from zeronas.engine import train_epoch
from zeronas.frameworks.afcgan import Regressor, boundary_loss, domain_loss


# --------------------------------------------------------------------------- the terms, by hand
def test_boundary_loss_is_the_cross_entropy_to_the_uniform_distribution():
    # row 1: p = (1/2, 1/2): -(1/2)(2 log 1/2) = log 2 = 0.693147
    # row 2: p = (3/4, 1/4): -(1/2)(log 3/4 + log 1/4) = (0.287682 + 1.386294) / 2 = 0.836988
    logits = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0]])
    assert boundary_loss(logits).item() == pytest.approx((0.693147 + 0.836988) / 2, abs=1e-6)


def test_boundary_loss_is_the_expectation_of_the_authors_randomly_weighted_term():
    # The authors weight each -log p_ik by a fresh uniform draw u_ik in [0, 1); E[u] = 1/2.
    torch.manual_seed(0)
    logits = torch.randn(4, 2)
    log_p = F.log_softmax(logits, dim=1)
    u = torch.rand(20000, 4, 2)
    drawn = -(u * log_p).sum(dim=(1, 2)) / 4
    assert drawn.mean().item() == pytest.approx(boundary_loss(logits).item(), rel=1e-2)


def test_domain_loss_weights_each_side_by_hand():
    # seen row: logits (0, log 3) -> P(seen) = 3/4, CE = -log 3/4 = 0.287682
    # unseen row: logits (0, 0) -> P(unseen) = 1/2, CE = log 2 = 0.693147
    seen, unseen = torch.tensor([[0.0, math.log(3.0)]]), torch.tensor([[0.0, 0.0]])
    assert domain_loss(seen, unseen, 2.0, 10.0).item() == pytest.approx(2 * 0.287682 + 10 * 0.693147, abs=1e-5)
    assert domain_loss(seen, unseen, 1.0, 0.0).item() == pytest.approx(0.287682, abs=1e-6)


def test_regressor_output_is_relu_only_for_non_negative_class_vectors():
    torch.manual_seed(0)
    x = torch.randn(50, 4)
    assert (Regressor(4, 8, 3, relu_out=True)(x) >= 0).all()
    assert (Regressor(4, 8, 3, relu_out=False)(x) < 0).any()


def test_regressor_fit_learns_the_class_vectors_then_freezes():
    torch.manual_seed(0)
    x = torch.rand(64, 4)
    c = x[:, :2] * 2  # a map the regressor can learn
    reg = Regressor(4, 16, 2, relu_out=True)
    before = F.mse_loss(reg(x), c).item()
    reg.fit(x, c, lr=1e-2, epochs=40, batch=32)
    assert F.mse_loss(reg(x), c).item() < before / 10
    assert not any(p.requires_grad for p in reg.parameters())


# --------------------------------------------------------------------------- the losses, assembled
@pytest.fixture
def session(synthetic_task):
    torch.manual_seed(0)
    cfg = tiny_config("afcgan")
    a = cfg.afcgan
    a.syn_per_class, a.cyc_seen_weight, a.cyc_unseen_weight, a.dm_weight = 2, 0.5, 0.25, 3.0
    a.dm_seen_weight, a.dm_unseen_weight = 0.75, 2.0
    return training(synthetic_task, cfg)  # FIX nets: no dropout, so no other draws


def _batch(task):
    y = task.train_y[:6]
    return task.train_x[:6], task.class_vectors[y], y


def _fakes(fw, classes, m):
    c = fw.task.class_vectors[classes.repeat_interleave(m)]
    return fw.G(torch.randn(c.shape[0], fw.noise_dim), c), c


def test_generator_loss_adds_the_cycle_and_boundary_terms(session):
    fw, task = session.fw, session.task
    x, c, y = _batch(task)
    torch.manual_seed(1)
    loss, stats = fw.generator_loss(x, c, y)
    torch.manual_seed(1)
    fake = fw.G(torch.randn(6, fw.noise_dim), c)
    seen_fake, seen_c = _fakes(fw, task.seen_classes, 2)
    unseen_fake, unseen_c = _fakes(fw, task.unseen_classes, 2)
    R, B = fw.extras["regressor"], fw.extras["domain"]
    cycle = 0.5 * ((R(seen_fake) - seen_c) ** 2).mean() + 0.25 * ((R(unseen_fake) - unseen_c) ** 2).mean()
    log_p = F.log_softmax(B(torch.cat([x, unseen_fake])), dim=1)
    boundary = 3.0 * -(0.5 * log_p).sum(1).mean()
    ce = F.cross_entropy(fw.classifier(fake), fw.labels.to_local(y))
    expected = -fw.D(fake, c).mean() + fw.cls_weight * ce + cycle + boundary
    assert torch.allclose(stats["cycle_loss"], cycle) and torch.allclose(stats["boundary_loss"], boundary)
    assert torch.allclose(loss, expected)


def test_critic_loss_adds_the_domain_classifiers_loss(session):
    fw, task = session.fw, session.task
    x, c, y = _batch(task)
    torch.manual_seed(1)
    loss, stats = fw.critic_loss(x, c, y)
    torch.manual_seed(1)
    with torch.no_grad():
        fake = fw.G(torch.randn(6, fw.noise_dim), c)
        unseen_fake, _ = _fakes(fw, task.unseen_classes, 2)
    eta = torch.rand(6, 1)
    xhat = (eta * x + (1 - eta) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(fw.D(xhat, c).sum(), xhat)
    wgan = fw.D(fake, c).mean() - fw.D(x, c).mean() + 10 * ((grad.norm(dim=1) - 1) ** 2).mean()
    B = fw.extras["domain"]
    seen_ce = F.cross_entropy(B(x), torch.ones(6, dtype=torch.long))
    unseen_ce = F.cross_entropy(B(unseen_fake), torch.zeros(unseen_fake.shape[0], dtype=torch.long))
    domain = 0.75 * seen_ce + 2.0 * unseen_ce
    assert torch.allclose(stats["domain_loss"], domain)
    assert torch.allclose(loss, wgan + domain, atol=1e-6)


# --------------------------------------------------------------------------- what the steps touch
def test_domain_classifier_trains_with_the_critic_and_the_regressor_stays_frozen(session):
    fw = session.fw
    assert any(p is q for p in fw.extras["domain"].parameters() for q in session.params["w_d"])
    assert not any(p is q for p in fw.extras["domain"].parameters() for q in session.params["w_g"])
    reg = [p.detach().clone() for p in fw.extras["regressor"].parameters()]
    dom = [p.detach().clone() for p in fw.extras["domain"].parameters()]
    session.step("w_g", fw.generator_loss, "train")
    assert all(torch.equal(a, b) for a, b in zip(dom, fw.extras["domain"].parameters(), strict=True))
    session.step("w_d", fw.critic_loss, "train")
    assert not all(torch.equal(a, b) for a, b in zip(dom, fw.extras["domain"].parameters(), strict=True))
    assert all(torch.equal(a, b) for a, b in zip(reg, fw.extras["regressor"].parameters(), strict=True))


def test_unseen_terms_read_the_held_out_class_vectors_never_an_unseen_image(synthetic_task):
    # In a validation task the "unseen" classes are the fold's held-out classes: no training row.
    task = synthetic_task
    assert not set(task.unseen_classes.tolist()) & set(task.train_y.tolist())
    nan = float("nan")
    poisoned = dataclasses.replace(
        task, test_unseen_x=torch.full_like(task.test_unseen_x, nan), test_seen_x=torch.full_like(task.test_seen_x, nan)
    )
    torch.manual_seed(0)
    row = train_epoch(training(poisoned, tiny_config("afcgan")))
    assert all(math.isfinite(v) for v in row.values())
