"""Loss values on inputs small enough to check by hand: the WGAN-GP terms and every
framework's critic and generator losses. A sign flip, a missing weight or a swapped term
changes a number here.

The networks are stand-ins whose outputs are written down: a linear critic
``D(x, c) = x . w`` (its input gradient is ``w`` everywhere, so the gradient penalty is
``(|w| - 1)^2``), a generator that returns the class vector (``G(z, c) = c``), and for the
VAE frameworks an encoder and a semantic decoder with fixed outputs.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from zeronas.config import Config
from zeronas.data import ZSLTask
from zeronas.frameworks import CLSWGAN
from zeronas.frameworks.lisgan import LisGAN
from zeronas.frameworks.vaegan import FVAEGAN, TFVAEGAN
from zeronas.frameworks.wgan import generator_terms, gradient_penalty, wgan_critic_loss


class LinearCritic(nn.Module):
    def __init__(self, w: list[float]):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return (x @ self.w).unsqueeze(1)


class HalfSquare(nn.Module):
    """``D(x, c) = |x|^2 / 2``: its input gradient is ``x`` itself."""

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return 0.5 * x.pow(2).sum(1, keepdim=True)


class ClassVectorG(nn.Module):
    """``G(z, c) = c`` (features and class vectors are both 2-d here)."""

    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))

    def forward(self, z: torch.Tensor, c: torch.Tensor, feedback: torch.Tensor | None = None) -> torch.Tensor:
        return c + 0 * self.unused


class FixedEncoder(nn.Module):
    """q(z | x, c) = N(mean, exp(log_var)) with the given constants."""

    def __init__(self, mean: float, log_var: float):
        super().__init__()
        self.m, self.lv = mean, log_var

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (x.shape[0], 2)
        return torch.full(shape, self.m), torch.full(shape, self.lv)


class DoublingDecoder(nn.Module):
    """``Dec(x) = (2x, x)``."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return 2 * x, x


# classes 0..5: seen 3 (c = e1) and 5 (c = e2), unseen 1
C3, C5 = [1.0, 0.0], [0.0, 1.0]


def hand_task() -> ZSLTask:
    cv = torch.tensor([[0.6, 0.8], [0.8, 0.6], [0.6, 0.8], C3, [0.8, 0.6], C5])
    x = torch.tensor([[1.0, 1.0], [2.0, 0.0]])
    y = torch.tensor([3, 5])
    return ZSLTask("hand", x, y, x, y, x[:1], torch.tensor([1]), cv, torch.tensor([3, 5]), torch.tensor([1]))


REAL = torch.tensor([[1.0, 1.0], [2.0, 0.0]])  # D = x . (2, -1): 1 and 4, mean 2.5
C = torch.tensor([C3, C5])  # G(z, c) = c: D = 2 and -1, mean 0.5
Y = torch.tensor([3, 5])
W = [2.0, -1.0]  # |w| = sqrt 5
GP = (math.sqrt(5) - 1) ** 2


# --------------------------------------------------------------------------- WGAN-GP


def test_gradient_penalty_of_a_linear_critic():
    d = LinearCritic([3.0, 4.0])  # |w| = 5
    gp = gradient_penalty(d, torch.randn(4, 2), torch.randn(4, 2), torch.zeros(4, 1))
    assert gp.item() == pytest.approx(16.0)
    gp.backward()  # differentiable in the critic's weights: d/dw (|w| - 1)^2 = 2 (|w| - 1) w / |w|
    torch.testing.assert_close(d.w.grad, torch.tensor([4.8, 6.4]))


def test_gradient_penalty_is_taken_on_interpolates():
    real, fake = torch.tensor([[2.0, 0.0], [0.0, 4.0]]), torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    torch.manual_seed(7)
    a, b = torch.rand(2, 1).flatten().tolist()  # the interpolation weights the penalty draws
    torch.manual_seed(7)
    gp = gradient_penalty(HalfSquare(), real, fake, torch.zeros(2, 1))
    # grad D(xhat) = xhat = eta real + (1 - eta) fake: (2a, 1 - a) and (1 - b, 4b)
    norms = [math.hypot(2 * a, 1 - a), math.hypot(1 - b, 4 * b)]
    assert gp.item() == pytest.approx(((norms[0] - 1) ** 2 + (norms[1] - 1) ** 2) / 2)


def test_wgan_critic_loss_by_hand():
    loss, w_dist = wgan_critic_loss(LinearCritic(W), REAL, C, C, gp_weight=10.0)
    assert w_dist.item() == pytest.approx(2.5 - 0.5)  # D(real) - D(fake): the Wasserstein estimate
    assert loss.item() == pytest.approx(-(2.5 - 0.5) + 10.0 * GP)
    assert not w_dist.requires_grad


def test_generator_terms_by_hand():
    clf = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        clf.weight.copy_(torch.tensor([[math.log(3), 0.0], [0.0, 0.0]]))
    adv, ce = generator_terms(LinearCritic(W), clf, C, C, torch.tensor([0, 1]))
    assert adv.item() == pytest.approx(-0.5)  # -mean D(fake)
    # logits (ln 3, 0) for class 0: p = 3/4; logits (0, 0) for class 1: p = 1/2
    assert ce.item() == pytest.approx((math.log(4 / 3) + math.log(2)) / 2)


# --------------------------------------------------------------------------- frameworks


def framework(kind, cfg: Config | None = None, cls_weight: float = 0.1, gp_weight: float = 10.0):
    cfg = cfg or Config()
    cfg.vaegan.encoder_hidden = cfg.tfvaegan.decoder_hidden = 4
    return kind(ClassVectorG(), LinearCritic(W), hand_task(), cfg, cls_weight, gp_weight)


def test_clswgan_losses_by_hand():
    fw = framework(CLSWGAN)
    with torch.no_grad():
        fw.classifier.weight.copy_(torch.tensor([[math.log(3), 0.0], [0.0, 0.0]]))
        fw.classifier.bias.zero_()
    loss, stats = fw.critic_loss(REAL, C, Y)
    assert loss.item() == pytest.approx(-2.0 + 10.0 * GP) and stats["wasserstein"].item() == pytest.approx(2.0)
    loss, stats = fw.generator_loss(REAL, C, Y)  # classes 3, 5 are local 0, 1
    ce = (math.log(4 / 3) + math.log(2)) / 2
    assert stats["cls_loss"].item() == pytest.approx(ce)
    assert loss.item() == pytest.approx(-0.5 + 0.1 * ce)


def test_fvaegan_losses_by_hand():
    cfg = Config()
    cfg.vaegan.gan_weight_d, cfg.vaegan.gan_weight_g = 3.0, 2.0
    fw = framework(FVAEGAN, cfg)
    fw.extras["encoder"] = FixedEncoder(mean=1.0, log_var=0.0)  # KL(N(1, 1) || N(0, 1)) = 1/2 per dim
    loss, stats = fw.critic_loss(REAL, C, Y)
    assert loss.item() == pytest.approx(3.0 * (-2.0 + 10.0 * GP)) and stats["wasserstein"].item() == pytest.approx(2.0)
    loss, stats = fw.generator_loss(REAL, C, Y)
    # recon = G(z, c) = c: squared errors |(1,1)-(1,0)|^2 = 1, |(2,0)-(0,1)|^2 = 5; KL 2 x 1/2 per sample
    vae = (1 + 5) / 2 + 1.0
    assert stats["vae_loss"].item() == pytest.approx(vae)
    assert loss.item() == pytest.approx(vae + 2.0 * -0.5)


def test_tfvaegan_losses_by_hand():
    cfg = Config()
    cfg.vaegan.gan_weight_d, cfg.vaegan.gan_weight_g = 3.0, 2.0
    cfg.tfvaegan.recons_weight = 0.5
    fw = framework(TFVAEGAN, cfg)
    assert "feedback" not in fw.extras  # G has no hidden layer to feed back into
    fw.extras["encoder"] = FixedEncoder(mean=0.0, log_var=0.0)  # no KL
    fw.extras["decoder"] = DoublingDecoder()
    loss, stats = fw.critic_loss(REAL, C, Y)
    # Dec(real) - c = (2,2)-(1,0) = (1,2) and (4,0)-(0,1) = (4,-1): sum |e|^3 / |e| per sample
    recons_real = (9 / math.sqrt(5) + 65 / math.sqrt(17)) / 2
    assert stats["recons_real"].item() == pytest.approx(recons_real)
    assert loss.item() == pytest.approx(3.0 * (-2.0 + 10.0 * GP) + 0.5 * recons_real)
    loss, stats = fw.generator_loss(REAL, C, Y)
    # fakes are c: Dec(c) - c = c, a unit vector: 1 per sample
    assert stats["recons_fake"].item() == pytest.approx(1.0)
    assert stats["vae_loss"].item() == pytest.approx((1 + 5) / 2)
    assert loss.item() == pytest.approx(3.0 + 2.0 * -0.5 + 0.5 * 1.0)


def test_lisgan_generator_loss_by_hand():
    cfg = Config()
    cfg.lisgan.souls_per_class, cfg.lisgan.soul_syn_num = 2, 3
    cfg.lisgan.sample_soul_weight, cfg.lisgan.class_soul_weight = 0.5, 0.25
    fw = framework(LisGAN, cfg, cls_weight=0.0)
    with torch.no_grad():
        fw.classifier.weight.zero_()
        fw.classifier.bias.zero_()
        # class 3's souls at (1, 1) and (4, 0); class 5's at (0, 3) and (5, 5)
        fw.souls.centres.copy_(torch.tensor([[[1.0, 1.0], [4.0, 0.0]], [[0.0, 3.0], [5.0, 5.0]]]))
    loss, stats = fw.generator_loss(REAL, C, Y)
    # fakes (and class means of fakes) are (1, 0) and (0, 1): nearest souls at 1 and 4
    soul = 0.5 * (1 + 4) / 2 + 0.25 * (1 + 4) / 2
    assert stats["soul_loss"].item() == pytest.approx(soul)
    assert stats["cls_loss"].item() == pytest.approx(math.log(2))  # uniform over 2 classes
    assert loss.item() == pytest.approx(-0.5 + soul)
