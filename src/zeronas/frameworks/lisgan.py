"""LisGAN (Li et al. CVPR'19): f-CLSWGAN plus "soul samples", the invariant side of each class.

A class's soul samples are the centres of a k-means clustering of its real features.
Two terms pull the generator towards them: each fake feature towards the nearest soul
of its class, and each seen class's mean fake feature (over ``soul_syn_num`` fakes)
towards the nearest soul of that class; distances are squared Euclidean.

Not implemented: the paper's test-time cascade (re-labelling confident unseen test
samples and classifying again); every framework is evaluated with the same classifier.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
from torch import nn

from zeronas.config import setting
from zeronas.frameworks.base import Stats
from zeronas.frameworks.clswgan import CLSWGAN
from zeronas.frameworks.registry import register_framework
from zeronas.frameworks.wgan import generator_terms


@dataclass
class LisGANConfig:
    """``[lisgan]``: the soul samples (the frozen classifier is ``[clswgan]``'s)."""

    souls_per_class: int = setting(3, "k-means clusters of each seen class's real features", min=1)
    sample_soul_weight: float = setting(0.01, "weight pulling each fake feature to its class's nearest soul", min=0)
    class_soul_weight: float = setting(0.01, "weight pulling each class's mean fake feature to its nearest soul", min=0)
    soul_syn_num: int = setting(20, "fakes per seen class for the class-level term", min=1)


class Souls(nn.Module):
    """Soul samples of the seen classes: ``(classes, souls per class, feature dim)``."""

    def __init__(self, n_classes: int, per_class: int, dim: int):
        super().__init__()
        self.centres: torch.Tensor
        self.register_buffer("centres", torch.zeros(n_classes, per_class, dim))

    def fit(self, x: torch.Tensor, y_local: torch.Tensor, seed: int = 0) -> None:
        from sklearn.cluster import KMeans

        xs, ys = x.detach().cpu().numpy().astype(np.float64), y_local.cpu().numpy()
        k = self.centres.shape[1]
        for cls in range(self.centres.shape[0]):
            rows = xs[ys == cls]
            km = KMeans(n_clusters=min(k, len(rows)), n_init=10, random_state=seed).fit(rows)
            centres = np.resize(km.cluster_centers_, (k, rows.shape[1]))  # repeats if fewer rows than k
            self.centres[cls] = torch.as_tensor(centres, dtype=self.centres.dtype)

    def distance(self, fake: torch.Tensor, y_local: torch.Tensor) -> torch.Tensor:
        """Squared distance of each fake to the nearest soul of its class, averaged."""
        d = (fake.unsqueeze(1) - self.centres[y_local]).pow(2).sum(-1)
        return d.min(dim=1).values.mean()


@register_framework
class LisGAN(CLSWGAN):
    name = "lisgan"
    title = "LisGAN"
    description = "f-CLSWGAN plus soul samples, k-means centres of each class (Li et al. 2019)"
    config_section = ("lisgan", LisGANConfig)
    generator_stats = ("cls_loss", "soul_loss")
    terms = {**CLSWGAN.terms, "soul_loss": "soul-sample terms (LisGAN)"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        t, c = self.task, self.cfg.lisgan
        self.extras["souls"] = Souls(len(t.seen_classes), c.souls_per_class, t.feature_dim)

    @property
    def souls(self) -> Souls:
        return cast(Souls, self.extras["souls"])

    def prepare(self) -> None:
        super().prepare()
        self.souls.fit(self.task.train_x, self.labels.to_local(self.task.train_y))

    def generator_loss(self, x: torch.Tensor, c: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, Stats]:
        lc, souls = self.cfg.lisgan, self.souls
        y_local = self.labels.to_local(y)
        fake = self.G(self.noise(c.shape[0]), c)
        adv, ce = generator_terms(self.critic, self.classifier, fake, c, y_local)
        soul = lc.sample_soul_weight * souls.distance(fake, y_local)
        if lc.class_soul_weight > 0:
            seen = self.task.seen_classes
            m = lc.soul_syn_num
            per_class = self.G(self.noise(len(seen) * m), self.task.class_vectors[seen.repeat_interleave(m)])
            means = per_class.view(len(seen), m, -1).mean(dim=1)
            soul = soul + lc.class_soul_weight * souls.distance(means, torch.arange(len(seen), device=self.device))
        return adv + self.cls_weight * ce + soul, {"cls_loss": ce.detach(), "soul_loss": soul.detach()}
