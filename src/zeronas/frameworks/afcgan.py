"""AFC-GAN (Li et al. ACM MM'19): f-CLSWGAN plus terms against "feature confusion".

The terms follow the authors' public code (``afcgan.py`` of github.com/lijin118/AFC-GAN);
the paper's text could not be read here, so the names are ours (docs/frameworks.md):

- a **semantic cycle term**: a visual-to-semantic regressor ``R``, pre-trained on real seen
  features and frozen, maps fakes of every seen and every unseen class back to their class
  vectors (mean squared error, one weight per side);
- a **boundary term**: a two-way domain classifier ``B`` learns to tell real seen features
  (label 1) from fakes of the unseen classes (label 0), in the critic steps; the generator
  is trained with the cross-entropy between ``B``'s prediction and the uniform distribution.

The unseen terms read only the unseen classes' *class vectors*, never an unseen image: the
same knowledge f-CLSWGAN uses to synthesise unseen features after training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from zeronas.config import setting
from zeronas.frameworks.base import Stats
from zeronas.frameworks.clswgan import CLSWGAN
from zeronas.frameworks.registry import register_framework
from zeronas.frameworks.wgan import generator_terms, wgan_critic_loss
from zeronas.nas.ops import init_weights


@dataclass
class AFCGANConfig:
    """``[afcgan]``: defaults are the authors' GZSL script for CUB (``demo.sh`` of
    github.com/lijin118/AFC-GAN); ``configs/{sun,awa1,apy}.toml`` carry their other scripts."""

    syn_per_class: int = setting(5, "fakes per class for the cycle and boundary terms (loss_syn_num)", min=1)
    cyc_seen_weight: float = setting(1.0, "weight of the semantic cycle term on seen-class fakes", min=0)
    cyc_unseen_weight: float = setting(1.0, "weight of the semantic cycle term on unseen-class fakes", min=0)
    dm_seen_weight: float = setting(1e-3, "domain classifier: weight of its loss on real seen features", min=0)
    dm_unseen_weight: float = setting(1e-3, "domain classifier: weight of its loss on unseen-class fakes", min=0)
    dm_weight: float = setting(1e-2, "weight of the boundary term in the generator loss", min=0)
    domain_lr: float = setting(1e-4, "learning rate of the domain classifier", gt=0)
    regressor_hidden: int = setting(7000, "hidden units of the visual-to-semantic regressor (f_hid)", min=1)
    regressor_lr: float = setting(1e-4, "learning rate of the regressor's pre-training", gt=0)
    regressor_epochs: int = setting(50, "epochs of the regressor's pre-training", min=1)
    regressor_batch: int = setting(64, "batch size of the regressor's pre-training", min=1)


class Regressor(nn.Module):
    """``R(x) -> c``: FC + LeakyReLU(0.2), FC; the output goes through ReLU when every class
    vector is non-negative (the authors' attributes), and is linear otherwise."""

    def __init__(self, feature_dim: int, hidden: int, attr_dim: int, relu_out: bool):
        super().__init__()
        self.fc1, self.fc2, self.relu_out = nn.Linear(feature_dim, hidden), nn.Linear(hidden, attr_dim), relu_out
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.fc2(F.leaky_relu(self.fc1(x), 0.2))
        return F.relu(out) if self.relu_out else out

    def fit(self, x: torch.Tensor, c: torch.Tensor, lr: float, epochs: int, batch: int) -> None:
        """Mean-squared-error regression of ``c`` from ``x`` (Adam, betas (0.5, 0.999)), then frozen."""
        opt = torch.optim.Adam(self.parameters(), lr=lr, betas=(0.5, 0.999))
        for _ in range(epochs):
            perm = torch.randperm(x.shape[0], device=x.device)
            for idx in perm.split(batch):
                opt.zero_grad(set_to_none=True)
                F.mse_loss(self(x[idx]), c[idx]).backward()
                opt.step()
        self.requires_grad_(False)


class DomainClassifier(nn.Module):
    """``B(x)``: logits of (unseen fake, real seen), a linear layer on ``relu(x)`` as in the authors' code."""

    def __init__(self, feature_dim: int):
        super().__init__()
        self.fc = nn.Linear(feature_dim, 2)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(F.relu(x))


UNSEEN, SEEN = 0, 1  # the domain classifier's labels


def domain_loss(
    logits_seen: torch.Tensor, logits_unseen: torch.Tensor, seen_weight: float, unseen_weight: float
) -> torch.Tensor:
    """The domain classifier's loss: weighted cross-entropies of real seen (label 1) and
    unseen fakes (label 0), each averaged over its own samples."""
    seen = F.cross_entropy(logits_seen, torch.full_like(logits_seen[:, 0], SEEN, dtype=torch.long))
    unseen = F.cross_entropy(logits_unseen, torch.full_like(logits_unseen[:, 0], UNSEEN, dtype=torch.long))
    return seen_weight * seen + unseen_weight * unseen


def boundary_loss(logits: torch.Tensor) -> torch.Tensor:
    """Cross-entropy between the uniform distribution and the domain classifier's prediction,
    ``-(1/n) sum_i sum_k (1/2) log p_ik``: the expectation of the authors' term, whose
    per-entry weights are drawn uniformly from [0, 1)."""
    return -0.5 * F.log_softmax(logits, dim=1).sum(dim=1).mean()


@register_framework
class AFCGAN(CLSWGAN):
    name = "afcgan"
    title = "AFC-GAN"
    description = "f-CLSWGAN plus a semantic cycle term and a seen/unseen boundary term (Li et al. 2019)"
    config_section = ("afcgan", AFCGANConfig)
    critic_stats = ("wasserstein", "domain_loss")
    generator_stats = ("cls_loss", "cycle_loss", "boundary_loss")
    terms = {
        **CLSWGAN.terms,
        "domain_loss": "domain classifier, real seen vs unseen fakes (AFC-GAN)",
        "cycle_loss": "semantic cycle terms, seen and unseen (AFC-GAN)",
        "boundary_loss": "boundary term on the domain classifier (AFC-GAN)",
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        t, a = self.task, self.cfg.afcgan
        relu_out = bool((t.class_vectors >= 0).all())
        self.extras["regressor"] = Regressor(t.feature_dim, a.regressor_hidden, t.attr_dim, relu_out)
        self.extras["domain"] = DomainClassifier(t.feature_dim)

    @property
    def regressor(self) -> Regressor:
        return cast(Regressor, self.extras["regressor"])

    @property
    def domain(self) -> DomainClassifier:
        return cast(DomainClassifier, self.extras["domain"])

    def prepare(self) -> None:
        super().prepare()  # the frozen classifier of f-CLSWGAN
        t, a = self.task, self.cfg.afcgan
        self.regressor.fit(t.train_x, t.class_vectors[t.train_y], a.regressor_lr, a.regressor_epochs, a.regressor_batch)

    def critic_groups(self) -> list[dict]:
        # The authors' separate Adam for the domain classifier (lr 1e-4, betas (0.5, 0.999)).
        return [{"params": list(self.domain.parameters()), "lr": self.cfg.afcgan.domain_lr, "betas": (0.5, 0.999)}]

    def per_class(self, classes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``syn_per_class`` fakes of each class in ``classes`` (with gradients) and their class vectors."""
        c = self.task.class_vectors[classes.repeat_interleave(self.cfg.afcgan.syn_per_class)]
        return self.G(self.noise(c.shape[0]), c), c

    def critic_loss(self, x: torch.Tensor, c: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, Stats]:
        """WGAN-GP, plus the domain classifier's loss on real seen ``x`` against unseen fakes."""
        a = self.cfg.afcgan
        with torch.no_grad():
            fake = self.G(self.noise(x.shape[0]), c)
            unseen_fake, _ = self.per_class(self.task.unseen_classes)
        loss, w_dist = wgan_critic_loss(self.critic, x, fake, c, self.gp_weight)
        dom = domain_loss(self.domain(x), self.domain(unseen_fake), a.dm_seen_weight, a.dm_unseen_weight)
        return loss + dom, {"wasserstein": w_dist, "domain_loss": dom.detach()}

    def generator_loss(self, x: torch.Tensor, c: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, Stats]:
        """f-CLSWGAN's loss plus the weighted cycle terms and ``dm_weight`` x the boundary term,
        the latter over the real seen batch and the unseen fakes together, as in the authors' code."""
        a = self.cfg.afcgan
        fake = self.G(self.noise(c.shape[0]), c)
        adv, ce = generator_terms(self.critic, self.classifier, fake, c, self.labels.to_local(y))
        seen_fake, seen_c = self.per_class(self.task.seen_classes)
        unseen_fake, unseen_c = self.per_class(self.task.unseen_classes)
        cycle = a.cyc_seen_weight * F.mse_loss(self.regressor(seen_fake), seen_c)
        cycle = cycle + a.cyc_unseen_weight * F.mse_loss(self.regressor(unseen_fake), unseen_c)
        boundary = a.dm_weight * boundary_loss(self.domain(torch.cat([x, unseen_fake])))
        loss = adv + self.cls_weight * ce + cycle + boundary
        return loss, {"cls_loss": ce.detach(), "cycle_loss": cycle.detach(), "boundary_loss": boundary.detach()}
