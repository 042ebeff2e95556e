"""f-CLSWGAN (Xian et al. CVPR'18): WGAN-GP plus a frozen classifier's loss on the fakes (Eq. 1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, cast

import torch
from torch import nn

from zeronas.config import setting
from zeronas.evaluation.classifiers import LabelMap, train_softmax
from zeronas.frameworks.base import Framework, Stats
from zeronas.frameworks.registry import register_framework
from zeronas.frameworks.wgan import generator_terms, wgan_critic_loss


@dataclass
class CLSWGANConfig:
    """``[clswgan]``: the frozen classifier of the classification loss (also LisGAN's)."""

    pretrain_cls_lr: float = setting(
        1e-3, "learning rate of the frozen classifier behind the classification loss", gt=0
    )
    pretrain_cls_epochs: int = setting(50, "epochs of that pre-trained classifier", min=1)
    pretrain_cls_batch: int = setting(100, "batch size of that pre-trained classifier", min=1)


@register_framework
class CLSWGAN(Framework):
    name = "clswgan"
    title = "f-CLSWGAN"
    description = "WGAN-GP plus a frozen classifier's loss on the fakes (Xian et al. 2018)"
    config_section: ClassVar[tuple[str, type] | None] = ("clswgan", CLSWGANConfig)
    critic_stats: ClassVar[tuple[str, ...]] = ("wasserstein",)
    generator_stats: ClassVar[tuple[str, ...]] = ("cls_loss",)
    terms = {
        "wasserstein": "Wasserstein estimate",
        "cls_loss": "classification loss of G(z,c)",
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.labels = LabelMap(self.task.seen_classes)
        self.extras["classifier"] = nn.Linear(self.task.feature_dim, len(self.task.seen_classes))

    @property
    def classifier(self) -> nn.Linear:
        return cast(nn.Linear, self.extras["classifier"])

    def prepare(self) -> None:
        t, task = self.cfg.clswgan, self.task
        train_softmax(
            task.train_x,
            self.labels.to_local(task.train_y),
            len(task.seen_classes),
            t.pretrain_cls_lr,
            t.pretrain_cls_epochs,
            t.pretrain_cls_batch,
            model=self.classifier,
        )

    def critic_loss(self, x: torch.Tensor, c: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, Stats]:
        """WGAN-GP on fakes ``G(z, c)`` from prior noise."""
        with torch.no_grad():
            fake = self.G(self.noise(x.shape[0]), c)
        loss, w_dist = wgan_critic_loss(self.critic, x, fake, c, self.gp_weight)
        return loss, {"wasserstein": w_dist}

    def generator_loss(self, x: torch.Tensor, c: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, Stats]:
        """``-D(G(z,c)) - lambda * log P(y | G(z,c))`` with the frozen classifier."""
        fake = self.G(self.noise(c.shape[0]), c)
        adv, ce = generator_terms(self.critic, self.classifier, fake, c, self.labels.to_local(y))
        return adv + self.cls_weight * ce, {"cls_loss": ce.detach()}
