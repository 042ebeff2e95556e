"""GAZSL (Zhu et al. CVPR'18): WGAN-GP plus the visual-pivot regulariser and an auxiliary classifier.

Facts from the paper and the authors' code (github EthanZhu90/ZSL_GAN, ``train_CUB.py``,
``train_GBU.py``, ``models.py``, ``dataset.py``):

- the **visual pivot** of a seen class is the mean of its real training features (the
  code's ``tr_cls_centroid``: a class mean, not a k-means centre). In each generator step,
  for every seen class present in the batch, the Euclidean norm (not squared) of the gap
  between the mean of that class's fakes and its pivot is summed, divided by the number of
  seen classes and weighted by ``CENT_LAMBDA``;
- the critic has a **classification branch** over the seen classes, trained with the
  cross-entropy of real and of fake features (both with their true labels) in the critic
  steps; the generator step adds ``(CE(real) + CE(fake)) / 2``;
- ``REG_W_LAMBDA`` times the summed squared weights of G;
- with texts, an FC layer reduces the TF-IDF vector before G, and ``REG_Wz_LAMBDA`` times
  the L2,1 norm of its weight (one L2 norm per text dimension) makes it drop noisy words.

Here D is a searched scalar-output critic ``D(x, c)``, so the classification branch is a
separate network in :attr:`extras` (``aux``) trained in the critic steps. The text FC keeps
the class-vector width (G is built for that width); with attribute vectors it is off and
the framework is "GAZSL, attributes".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from zeronas.config import setting
from zeronas.evaluation.classifiers import LabelMap
from zeronas.frameworks.base import Framework, Stats
from zeronas.frameworks.registry import register_framework
from zeronas.frameworks.wgan import wgan_critic_loss


@dataclass
class GAZSLConfig:
    """``[gazsl]``: defaults are the authors' attribute setting (``train_GBU.py``: CENT_LAMBDA 5,
    REG_W_LAMBDA 0.001, auxiliary weight 1). Their text setting (``train_CUB.py``,
    ``train_NAB.py``) is ``pivot_weight = 1``, ``text_fc = true``, ``text_sparsity_weight = 1e-4``."""

    pivot_weight: float = setting(
        5.0, "visual pivot: weight of the distance of each seen class's mean fake to its real mean", min=0
    )
    pivot_samples: int = setting(
        0,
        "visual pivot: fakes drawn per class of the batch for its mean fake (0: the batch's own fakes, as the "
        "authors, whose batch of 1000 holds several per class)",
        min=0,
        key_default=False,
    )
    weight_decay: float = setting(0.001, "weight of the summed squared FC weights of G (REG_W_LAMBDA)", min=0)
    aux_weight: float = setting(1.0, "weight of the auxiliary classifier's cross-entropy, both steps", min=0)
    aux_hidden: int = setting(4096, "hidden width of the auxiliary classifier (0: linear)", min=0)
    text_fc: bool = setting(False, "text path: an FC layer on the class vector before G (class-vector width)")
    text_sparsity_weight: float = setting(
        1e-4, "text path: weight of the L2,1 norm of that layer's weight (REG_Wz_LAMBDA)", min=0
    )


class Pivots(nn.Module):
    """Visual pivots of the seen classes: ``(classes, feature dim)``, each the real class mean."""

    def __init__(self, n_classes: int, dim: int):
        super().__init__()
        self.centres: torch.Tensor
        self.register_buffer("centres", torch.zeros(n_classes, dim))

    def fit(self, x: torch.Tensor, y_local: torch.Tensor) -> None:
        sums = torch.zeros_like(self.centres).index_add_(0, y_local, x.to(self.centres.dtype))
        counts = torch.bincount(y_local, minlength=self.centres.shape[0]).clamp_min(1)
        self.centres.copy_(sums / counts.unsqueeze(1).to(sums.dtype))

    def distance(self, fake: torch.Tensor, y_local: torch.Tensor) -> torch.Tensor:
        """Sum over the classes in the batch of ``||mean fake - pivot||``, over the number of classes."""
        n = self.centres.shape[0]
        sums = torch.zeros(n, fake.shape[1], device=fake.device, dtype=fake.dtype).index_add(0, y_local, fake)
        counts = torch.bincount(y_local, minlength=n)
        present = counts > 0
        means = sums[present] / counts[present].unsqueeze(1).to(fake.dtype)
        return (means - self.centres[present]).norm(dim=1).sum() / n


def unique_rows(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The distinct values of ``y`` and the index of the first row holding each."""
    classes, inverse = torch.unique(y, return_inverse=True)
    rows = torch.arange(y.numel(), device=y.device)
    first = torch.full_like(classes, y.numel()).scatter_reduce(0, inverse, rows, reduce="amin")
    return classes, first


def aux_classifier(feature_dim: int, hidden: int, n_classes: int) -> nn.Module:
    """The stand-in for the authors' critic branch: FC + ReLU + FC (one FC if ``hidden`` is 0)."""
    if hidden == 0:
        return nn.Linear(feature_dim, n_classes)
    return nn.Sequential(nn.Linear(feature_dim, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))


def squared_fc_weights(modules: list[nn.Module]) -> torch.Tensor:
    """Sum of the squared weights of every FC layer in ``modules`` (biases and BN scales excluded)."""
    weights = [m.weight for mod in modules for m in mod.modules() if isinstance(m, nn.Linear)]
    if not weights:
        return torch.zeros(())
    return torch.stack([w.pow(2).sum() for w in weights]).sum()


def l21_columns(weight: torch.Tensor) -> torch.Tensor:
    """L2,1 norm of an FC weight ``(out, in)``: one L2 norm per input dimension, summed."""
    return weight.pow(2).sum(dim=0).sqrt().sum()


@register_framework
class GAZSL(Framework):
    name = "gazsl"
    title = "GAZSL"
    description = (
        "WGAN-GP plus visual pivots (class means) and an auxiliary classifier (Zhu et al. 2018); "
        "'GAZSL, attributes' with attribute vectors"
    )
    config_section = ("gazsl", GAZSLConfig)
    critic_stats = ("wasserstein", "aux_critic")
    generator_stats = ("aux_loss", "pivot_loss", "reg_loss")
    terms = {
        "wasserstein": "Wasserstein estimate",
        "aux_critic": "auxiliary classifier, real + fake CE (GAZSL)",
        "aux_loss": "auxiliary classification of real and fake, mean (GAZSL)",
        "pivot_loss": "visual-pivot distance (GAZSL)",
        "reg_loss": "weight regularisers of G (GAZSL)",
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        t, g = self.task, self.cfg.gazsl
        self.labels = LabelMap(t.seen_classes)
        self.extras["aux"] = aux_classifier(t.feature_dim, g.aux_hidden, len(t.seen_classes))
        self.extras["pivots"] = Pivots(len(t.seen_classes), t.feature_dim)
        if g.text_fc:
            self.extras["text"] = nn.Linear(t.attr_dim, t.attr_dim)

    @property
    def pivots(self) -> Pivots:
        return cast(Pivots, self.extras["pivots"])

    @property
    def text(self) -> nn.Linear | None:
        """The text FC, or None (attribute vectors: "GAZSL, attributes")."""
        return cast(nn.Linear, self.extras["text"]) if "text" in self.extras else None

    def prepare(self) -> None:
        self.pivots.fit(self.task.train_x, self.labels.to_local(self.task.train_y))

    def critic_groups(self) -> list[dict]:
        return [{"params": list(self.extras["aux"].parameters())}]

    def generator_groups(self) -> list[dict]:
        return [] if self.text is None else [{"params": list(self.text.parameters())}]

    def generate(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """G, reading the class vector through the text FC when there is one."""
        return self.G(z, c if self.text is None else self.text(c))

    def pivot_distance(self, fake: torch.Tensor, c: torch.Tensor, y_local: torch.Tensor) -> torch.Tensor:
        """The pivot term on the batch's fakes, or with ``pivot_samples = k`` on ``k`` fresh fakes
        of each class in the batch: at a batch smaller than the number of classes most classes
        hold one fake, and pulling it to the class mean collapses the class's spread."""
        k = self.cfg.gazsl.pivot_samples
        if k == 0:
            return self.pivots.distance(fake, y_local)
        classes, first = unique_rows(y_local)
        cs = c[first].repeat_interleave(k, dim=0)
        return self.pivots.distance(self.generate(self.noise(cs.shape[0]), cs), classes.repeat_interleave(k))

    def critic_loss(self, x: torch.Tensor, c: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, Stats]:
        """WGAN-GP plus ``aux_weight * (CE(aux(x), y) + CE(aux(fake), y))``."""
        with torch.no_grad():
            fake = self.generate(self.noise(x.shape[0]), c)
        loss, w_dist = wgan_critic_loss(self.critic, x, fake, c, self.gp_weight)
        y_local, aux = self.labels.to_local(y), self.extras["aux"]
        ce = F.cross_entropy(aux(x), y_local) + F.cross_entropy(aux(fake), y_local)
        return loss + self.cfg.gazsl.aux_weight * ce, {"wasserstein": w_dist, "aux_critic": ce.detach()}

    def generator_loss(self, x: torch.Tensor, c: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, Stats]:
        """``-D(fake) + aux_weight * (CE(real) + CE(fake)) / 2 + pivot + weight regularisers``."""
        g = self.cfg.gazsl
        y_local, aux = self.labels.to_local(y), self.extras["aux"]
        fake = self.generate(self.noise(c.shape[0]), c)
        adv = -self.critic(fake, c).mean()
        with torch.no_grad():  # the real half moves nothing in this step; kept for the code's figure
            ce_real = F.cross_entropy(aux(x), y_local)
        ce = (ce_real + F.cross_entropy(aux(fake), y_local)) / 2
        pivot = g.pivot_weight * self.pivot_distance(fake, c, y_local)
        text = self.text
        reg = torch.zeros((), device=self.device)
        if g.weight_decay > 0:
            reg = g.weight_decay * squared_fc_weights([self.G] + ([text] if text is not None else []))
        if text is not None:
            reg = reg + g.text_sparsity_weight * l21_columns(text.weight)
        loss = adv + g.aux_weight * ce + pivot + reg
        return loss, {"aux_loss": ce.detach(), "pivot_loss": pivot.detach(), "reg_loss": reg.detach()}
