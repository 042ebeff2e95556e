"""WGAN-GP losses, and f-CLSWGAN's two losses (Eqs. 1, 6-9) built on them.

The search (Eqs. 6-9) and the retraining (Eq. 1) evaluate the same two losses; they
differ only in which parameters are updated and on which half of the data. Every
framework with a critic (``zeronas.frameworks``) uses :func:`wgan_critic_loss`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def noise(n: int, dim: int, device: torch.device) -> torch.Tensor:
    return torch.randn(n, dim, device=device)


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """(||grad_xhat D(xhat, c)|| - 1)^2 on random interpolates, averaged over the batch."""
    eta = torch.rand(real.shape[0], 1, device=real.device)
    xhat = (eta * real + (1 - eta) * fake).requires_grad_(True)
    score = critic(xhat, c)
    (grad,) = torch.autograd.grad(score.sum(), xhat, create_graph=True)
    return ((grad.norm(2, dim=1) - 1) ** 2).mean()


def wgan_critic_loss(
    critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, c: torch.Tensor, gp_weight: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """WGAN-GP critic loss ``D(fake) - D(real) + gp`` and the Wasserstein estimate."""
    w_dist = critic(real, c).mean() - critic(fake, c).mean()
    return -w_dist + gp_weight * gradient_penalty(critic, real, fake, c), w_dist.detach()


def critic_loss(
    critic: nn.Module,
    generator: nn.Module,
    real: torch.Tensor,
    c: torch.Tensor,
    noise_dim: int,
    gp_weight: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """f-CLSWGAN's critic loss on fakes ``G(z, c)`` with prior noise ``z``."""
    with torch.no_grad():
        fake = generator(noise(real.shape[0], noise_dim, real.device), c)
    return wgan_critic_loss(critic, real, fake, c, gp_weight)


def generator_terms(
    critic: nn.Module, classifier: nn.Module, fake: torch.Tensor, c: torch.Tensor, y_local: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The adversarial term ``-D(fake, c)`` and the frozen classifier's ``-log P(y | fake)``."""
    ce = F.cross_entropy(classifier(fake), y_local)  # first: the gradients then sum in the order of earlier runs
    return -critic(fake, c).mean(), ce


def generator_loss(
    critic: nn.Module,
    generator: nn.Module,
    classifier: nn.Module,
    c: torch.Tensor,
    y_local: torch.Tensor,
    noise_dim: int,
    cls_weight: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``-D(G(z,c)) - lambda * log P(y | G(z,c))`` with a frozen classifier; also returns the CE term."""
    fake = generator(noise(c.shape[0], noise_dim, c.device), c)
    adv, ce = generator_terms(critic, classifier, fake, c, y_local)
    return adv + cls_weight * ce, ce.detach()


def set_trainable(params: list[nn.Parameter], trainable: list[nn.Parameter]) -> None:
    """Freeze every parameter in ``params`` except those in ``trainable``."""
    keep = {id(p) for p in trainable}
    for p in params:
        p.requires_grad_(id(p) in keep)
