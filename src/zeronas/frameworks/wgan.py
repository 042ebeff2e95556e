"""WGAN-GP losses (Eqs. 1, 6-9), the terms every framework with a critic builds on.

The search (Eqs. 6-9) and the retraining (Eq. 1) evaluate the same losses, through a
framework (``zeronas.frameworks``); they differ only in which parameters are updated and
on which half of the data.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


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


def generator_terms(
    critic: nn.Module, classifier: nn.Module, fake: torch.Tensor, c: torch.Tensor, y_local: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The adversarial term ``-D(fake, c)`` and the frozen classifier's ``-log P(y | fake)``."""
    # The classifier's term is built first: backward then sums G's gradients in this order,
    # which fixes the last bits of every result (tests/engine/golden/).
    ce = F.cross_entropy(classifier(fake), y_local)
    return -critic(fake, c).mean(), ce
