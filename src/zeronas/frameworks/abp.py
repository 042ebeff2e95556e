"""ZSL-ABP (Zhu, Xie, Liu, Elgammal, ICCV'19): G trained by alternating back-propagation.

No critic and no auxiliary network: G(z, c) is a latent-variable model
``x = G(z, c) + eps``, ``eps ~ N(0, sigma^2 I)``, ``z ~ N(0, I)``, fitted by maximum
likelihood. Each generator step alternates

1. **inferential back-propagation**: the latent code of each real feature in the batch
   is moved by a few Langevin steps on its posterior, with energy
   ``E(z) = ||x - G(z, c)||^2 / (2 sigma^2) + ||z||^2 / 2``:
   ``z <- z - (delta^2 / 2) grad_z E(z) + delta * N(0, I)``; G's weights are constants here;
2. **learning back-propagation**: the step on G's weights of ``||x - G(z, c)||^2 / (2 sigma^2)``
   (batch mean) with the inferred codes as constants.

As in the authors' code (github.com/EthanZhu90/ZSL_ABP, ``train_ABP.py``) the codes are
persistent chains: one per training feature, drawn from N(0, I) once and carried from
visit to visit (the engine tells the framework the rows of each batch, ``Framework.rows``).
Their weight decay on G (Adam ``weight_decay``) is the L2 term
``weight_decay / 2 * ||theta_G||^2`` of the loss, whose gradient is the same. Synthesis
decodes prior noise ``z ~ N(0, I)``, as theirs does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, cast

import torch
from torch import nn

from zeronas.config import setting
from zeronas.frameworks.base import Framework, Stats
from zeronas.frameworks.registry import register_framework


@dataclass
class ABPConfig:
    """``[abp]``: the authors' values (README commands, the same for CUB/AWA1/AWA2/SUN; weight decay: train_ABP.py)."""

    sigma: float = setting(0.3, "standard deviation sigma of the observation noise x - G(z, c)", gt=0)
    langevin_step: float = setting(0.1, "Langevin step size delta (the authors' langevin_s)", gt=0)
    langevin_steps: int = setting(5, "Langevin steps inferring the latent codes, per generator step", min=0)
    langevin_noise: bool = setting(
        True, "add the Langevin noise delta * N(0, I); false: gradient descent on the energy"
    )
    weight_decay: float = setting(1e-3, "L2 weight decay on G's weights (the authors' Adam weight_decay)", min=0)


def energy(G: nn.Module, z: torch.Tensor, c: torch.Tensor, x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Per sample, minus the log joint density up to a constant:
    ``||x - G(z, c)||^2 / (2 sigma^2) + ||z||^2 / 2``."""
    return (x - G(z, c)).pow(2).sum(1) / (2 * sigma**2) + z.pow(2).sum(1) / 2


def langevin(
    G: nn.Module,
    z: torch.Tensor,
    c: torch.Tensor,
    x: torch.Tensor,
    sigma: float,
    step: float,
    steps: int,
    noise: bool = True,
) -> torch.Tensor:
    """``steps`` Langevin steps ``z <- z - (step^2 / 2) grad_z E(z) + step * N(0, I)`` from ``z``
    (see :func:`energy`); returns the new codes, detached.

    Only ``z`` is differentiated: no gradient reaches (or is left on) G's parameters.
    """
    z = z.detach()
    for _ in range(steps):
        z.requires_grad_(True)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(energy(G, z, c, x, sigma).sum(), z)
        z = z.detach() - (step**2 / 2) * grad.to(z.dtype)
        if noise:
            z = z + step * torch.randn_like(z)
    return z


class _Weighted(Protocol):
    """A supernet or a discrete network: its weights apart from any architecture parameters."""

    def weight_parameters(self) -> list[nn.Parameter]: ...


class LatentChains(nn.Module):
    """The persistent latent code of each training feature: ``(rows, noise dim)``, from N(0, I)."""

    def __init__(self, rows: int, dim: int):
        super().__init__()
        self.codes: torch.Tensor
        self.register_buffer("codes", torch.randn(rows, dim))


@register_framework
class ABP(Framework):
    name = "abp"
    title = "ZSL-ABP"
    description = (
        "generator trained by alternating back-propagation: Langevin inference of z, no critic (Zhu et al. 2019)"
    )
    config_section = ("abp", ABPConfig)
    uses_critic = False
    generator_stats = ("abp_recon", "abp_latent")
    terms = {
        "abp_recon": "squared error ||x - G(z,c)||^2 at the inferred z",
        "abp_latent": "squared norm ||z||^2 of the inferred latent codes",
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.extras["chains"] = LatentChains(self.task.train_x.shape[0], self.noise_dim)

    @property
    def chains(self) -> LatentChains:
        return cast(LatentChains, self.extras["chains"])

    def infer(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """The batch's latent codes after the Langevin steps, from their chains (stored back),
        or from prior noise when the batch's rows are unknown (a loss called outside the engine)."""
        a = self.cfg.abp
        start = self.chains.codes[self.rows] if self.rows is not None else self.noise(x.shape[0])
        z = langevin(self.G, start, c, x, a.sigma, a.langevin_step, a.langevin_steps, a.langevin_noise)
        if self.rows is not None:
            self.chains.codes[self.rows] = z.to(self.chains.codes.dtype)
        return z

    def generator_loss(self, x: torch.Tensor, c: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, Stats]:
        """``||x - G(z, c)||^2 / (2 sigma^2)`` (batch mean) at the inferred codes ``z``, held
        constant, plus the weight decay of G."""
        a = self.cfg.abp
        z = self.infer(x, c)
        sq = (x - self.G(z, c)).pow(2).sum(1).mean()
        weights = cast(_Weighted, self.G).weight_parameters()  # not alpha: no decay in the arch steps
        decay = sum((p.pow(2).sum() for p in weights), torch.zeros((), device=x.device))
        loss = sq / (2 * a.sigma**2) + a.weight_decay / 2 * decay
        return loss, {"abp_recon": sq.detach(), "abp_latent": z.pow(2).sum(1).mean().detach()}
