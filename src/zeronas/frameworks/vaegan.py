"""f-VAEGAN-D2 (Xian et al. CVPR'19) and TF-VAEGAN (Narayan et al. ECCV'20), inductive.

f-VAEGAN: a conditional VAE whose decoder is the GAN's generator. The encoder
``E(x, c)`` gives ``q(z | x, c)``; the generator step minimises the VAE loss
(reconstruction + KL) plus ``gan_weight_g`` times the WGAN generator term, and the critic
steps minimise ``gan_weight_d`` times the WGAN-GP loss. With ``encoded_noise`` the WGAN
fakes decode the encoder's ``z`` (the authors' setting for CUB, SUN and AWA), otherwise
prior noise. The unlabelled-data critic D2 is transductive and not used here.

TF-VAEGAN adds a semantic decoder ``Dec(x) -> c`` (its loss on real features trains it
with the critic; on fakes it is a cycle-consistency term of the generator) and a
feedback module ``F``: ``G`` runs once, ``Dec`` reads its output, and ``F`` of Dec's
hidden layer is added to G's hidden layer (here: to every intermediate node of the
DAG; a derived G whose output reads only its inputs gets no feedback) in a second pass.
The final classifier sees ``[x, Dec(x), Dec's hidden(x)]``.

Differences from the papers, on purpose:
- reconstruction is the summed squared error, not binary cross-entropy: the searched
  generators end in (Leaky)ReLU operations, not in a sigmoid;
- the gradient-penalty weight is fixed (the authors' code adapts it during training);
- TF-VAEGAN uses the feedback in every step (the authors' code trains each epoch twice,
  first without and then with it) and keeps the semantic decoder frozen in the
  generator step (their ``--freeze_dec`` option).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from zeronas.config import setting
from zeronas.frameworks.base import Framework, Stats
from zeronas.frameworks.registry import register_framework
from zeronas.frameworks.wgan import wgan_critic_loss
from zeronas.nas.ops import init_weights


@dataclass
class VAEGANConfig:
    """``[vaegan]``: the VAE around the shared generator (f-VAEGAN-D2 and TF-VAEGAN)."""

    gan_weight_d: float = setting(10.0, "weight of the critic's WGAN-GP loss (the authors' gamma_d)", min=0)
    gan_weight_g: float = setting(10.0, "weight of the WGAN term in the generator's loss (gamma_g)", min=0)
    encoded_noise: bool = setting(True, "the generator's WGAN fakes decode the encoder's z, not prior noise")
    encoder_hidden: int = setting(4096, "hidden width of the encoder", min=1)


@dataclass
class TFVAEGANConfig:
    """``[tfvaegan]``: TF-VAEGAN's semantic decoder and feedback module."""

    recons_weight: float = setting(0.01, "cycle-consistency weight of the semantic decoder", min=0)
    feedback_weight: float = setting(1.0, "a1: feedback strength while training", min=0)
    feedback_weight_syn: float = setting(1.0, "a2: feedback strength when synthesising features", min=0)
    decoder_hidden: int = setting(4096, "hidden width of the semantic decoder", min=1)
    decoder_lr: float = setting(1e-4, "learning rate of the semantic decoder", gt=0)
    feedback_lr: float = setting(1e-5, "learning rate of the feedback module", gt=0)


class Encoder(nn.Module):
    """``E(x, c) -> (mean, log variance)`` of ``q(z | x, c)``."""

    def __init__(self, in_dim: int, hidden: int, latent: int, slope: float):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(in_dim, hidden), nn.LeakyReLU(slope), nn.Linear(hidden, 2 * latent), nn.LeakyReLU(slope)
        )
        self.mean = nn.Linear(2 * latent, latent)
        self.log_var = nn.Linear(2 * latent, latent)
        init_weights(self)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(torch.cat([x, c], dim=1))
        return self.mean(h), self.log_var(h)


class SemanticDecoder(nn.Module):
    """``Dec(x) -> (c_hat, hidden)``; ``c_hat`` is L2-normalised like the class vectors."""

    def __init__(self, feature_dim: int, hidden: int, attr_dim: int, slope: float):
        super().__init__()
        self.fc1, self.fc2, self.slope = nn.Linear(feature_dim, hidden), nn.Linear(hidden, attr_dim), slope
        init_weights(self)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = F.leaky_relu(self.fc1(x), self.slope)
        return F.normalize(self.fc2(h), dim=1), h


def vae_loss(recon: torch.Tensor, x: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """Summed squared reconstruction error plus KL(q(z|x,c) || N(0, I)), per sample."""
    n = x.shape[0]
    kl = -0.5 * torch.sum(1 + log_var - mean.pow(2) - log_var.exp())
    return ((recon - x).pow(2).sum() + kl) / n


def weighted_l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """TF-VAEGAN's reconstruction loss: per sample ``sum_j |e_j|^3 / ||e||_2``, averaged."""
    e = pred - target
    w = e.pow(2) / e.pow(2).sum(dim=1, keepdim=True).sqrt().clamp_min(1e-12)
    return (w * e.abs()).sum() / e.shape[0]


@register_framework
class FVAEGAN(Framework):
    name = "fvaegan"
    title = "f-VAEGAN-D2"
    description = "a conditional VAE whose decoder is G, plus WGAN-GP, inductive (Xian et al. 2019)"
    config_section: ClassVar[tuple[str, type] | None] = ("vaegan", VAEGANConfig)
    critic_stats: ClassVar[tuple[str, ...]] = ("wasserstein",)
    generator_stats: ClassVar[tuple[str, ...]] = ("vae_loss",)
    terms = {
        "wasserstein": "Wasserstein estimate",
        "vae_loss": "VAE loss (reconstruction + KL)",
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        t, v = self.task, self.cfg.vaegan
        self.extras["encoder"] = Encoder(
            t.feature_dim + t.attr_dim, v.encoder_hidden, self.noise_dim, self.cfg.model.slope
        )

    def generator_groups(self) -> list[dict]:
        return [{"params": list(self.extras["encoder"].parameters()), "betas": (0.9, 0.999)}]  # the authors' Adam

    def decode(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """G as the VAE's decoder while training."""
        return self.G(z, c)

    def _encode(self, x: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mean, log_var = self.extras["encoder"](x, c)
        return mean + torch.randn_like(mean) * torch.exp(0.5 * log_var), mean, log_var

    def _fake_z(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self._encode(x, c)[0] if self.cfg.vaegan.encoded_noise else self.noise(x.shape[0])

    def critic_loss(self, x: torch.Tensor, c: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, Stats]:
        with torch.no_grad():
            fake = self.decode(self._fake_z(x, c), c)
        loss, w_dist = wgan_critic_loss(self.critic, x, fake, c, self.gp_weight)
        return self.cfg.vaegan.gan_weight_d * loss, {"wasserstein": w_dist}

    def _vae_gan_terms(self, x: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(VAE loss, WGAN generator term, the fakes that term scored)."""
        z, mean, log_var = self._encode(x, c)
        recon = self.decode(z, c)
        fake = recon if self.cfg.vaegan.encoded_noise else self.decode(self.noise(x.shape[0]), c)
        return vae_loss(recon, x, mean, log_var), -self.critic(fake, c).mean(), fake

    def generator_loss(self, x: torch.Tensor, c: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, Stats]:
        vae, adv, _ = self._vae_gan_terms(x, c)
        return vae + self.cfg.vaegan.gan_weight_g * adv, {"vae_loss": vae.detach()}


@register_framework
class TFVAEGAN(FVAEGAN):
    name = "tfvaegan"
    title = "TF-VAEGAN"
    description = "f-VAEGAN plus a semantic decoder and a feedback module into G (Narayan et al. 2020)"
    config_section = ("tfvaegan", TFVAEGANConfig)
    critic_stats = ("wasserstein", "recons_real")
    generator_stats = ("vae_loss", "recons_fake")
    terms = {
        **FVAEGAN.terms,
        "recons_real": "semantic decoder on real features",
        "recons_fake": "semantic decoder on fakes",
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        t, tf, slope = self.task, self.cfg.tfvaegan, self.cfg.model.slope
        h = tf.decoder_hidden
        self.extras["decoder"] = SemanticDecoder(t.feature_dim, h, t.attr_dim, slope)
        width = int(getattr(self.G, "hidden_width", 0))  # G's intermediate nodes, side by side
        if width:  # a derived G may have no intermediate node: then no feedback
            fb = nn.Sequential(nn.Linear(h, h), nn.LeakyReLU(slope), nn.Linear(h, width), nn.LeakyReLU(slope))
            init_weights(fb)
            self.extras["feedback"] = fb

    def generator_groups(self) -> list[dict]:
        if "feedback" not in self.extras:
            return super().generator_groups()
        fb = {"params": list(self.extras["feedback"].parameters()), "lr": self.cfg.tfvaegan.feedback_lr}
        return super().generator_groups() + [fb]

    def critic_groups(self) -> list[dict]:
        return [{"params": list(self.extras["decoder"].parameters()), "lr": self.cfg.tfvaegan.decoder_lr}]

    def _with_feedback(self, z: torch.Tensor, c: torch.Tensor, strength: float) -> torch.Tensor:
        if "feedback" not in self.extras:
            return self.G(z, c)
        _, hidden = self.extras["decoder"](self.G(z, c))
        return self.G(z, c, strength * self.extras["feedback"](hidden.detach()))

    def decode(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self._with_feedback(z, c, self.cfg.tfvaegan.feedback_weight)

    def generate(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self._with_feedback(z, c, self.cfg.tfvaegan.feedback_weight_syn)

    def critic_loss(self, x: torch.Tensor, c: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, Stats]:
        loss, stats = super().critic_loss(x, c, y)
        recons = weighted_l1(self.extras["decoder"](x)[0], c)
        return loss + self.cfg.tfvaegan.recons_weight * recons, {**stats, "recons_real": recons.detach()}

    def generator_loss(self, x: torch.Tensor, c: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, Stats]:
        tf = self.cfg.tfvaegan
        vae, adv, fake = self._vae_gan_terms(x, c)
        recons = weighted_l1(self.extras["decoder"](fake)[0], c)
        loss = vae + self.cfg.vaegan.gan_weight_g * adv + tf.recons_weight * recons
        return loss, {"vae_loss": vae.detach(), "recons_fake": recons.detach()}

    @torch.no_grad()
    def classifier_input(self, x: torch.Tensor) -> torch.Tensor:
        with self.evaluating():
            out, hidden = self.extras["decoder"](x)
        return torch.cat([x, out, hidden], dim=1)
