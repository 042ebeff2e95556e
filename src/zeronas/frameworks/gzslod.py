"""GZSL-OD (Mandal et al. CVPR'19): f-CLSWGAN's generator plus an out-of-distribution detector.

The detector is a small MLP classifier over the seen classes, trained on real seen features
(cross-entropy plus low entropy) and on synthetic unseen features (high entropy). At test
time an image whose detector entropy is below a threshold goes to a seen classifier (trained
on real seen features), any other to an unseen classifier (trained on synthetic unseen
features). This is an extra GZSL rule (``gzsl_rules``), reported beside the plain and
calibrated GZSL of the same generator.

The threshold is fixed a priori as a rule on training data, the authors' rule: a fraction
(``threshold_scale``) of the detector's mean entropy on the real seen training features. It
reads no validation or test image; the epoch of the rule is chosen on the validation folds.

Defaults are the authors' code (github naraysa/gzsl-od, ``classifier_entropy.py`` and its call
in ``clswgan_action.py``): two hidden layers of 512 with ReLU, Adam 1e-3 with beta1 0.5, 50
epochs, batches of 128 (half seen, half synthetic). They publish no values for the image
datasets, so the bundled configs carry none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from zeronas.config import EvalConfig, setting
from zeronas.data import ZSLTask
from zeronas.evaluation.classifiers import LabelMap, train_final_softmax
from zeronas.frameworks.clswgan import CLSWGAN
from zeronas.frameworks.registry import register_framework

RULE = "od"


@dataclass
class GZSLODConfig:
    """``[gzslod]``: the out-of-distribution detector (the generator is f-CLSWGAN's, ``[clswgan]``)."""

    od_hidden: int = setting(512, "width of the detector's two hidden layers (authors' code)", min=1)
    od_lr: float = setting(1e-3, "Adam learning rate of the detector (authors' code)", gt=0)
    od_beta1: float = setting(0.5, "Adam beta1 of the detector (authors' code)", min=0, lt=1)
    od_epochs: int = setting(50, "detector epochs, each of ceil(real seen samples / od_batch) steps", min=1)
    od_batch: int = setting(128, "detector batch: half real seen, half synthetic unseen features", min=2)
    threshold_scale: float = setting(
        0.5,
        "threshold = this x the detector's mean entropy on the real seen training features "
        "(0.5: the value the authors' code computes)",
        gt=0,
    )


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Per row, the entropy (nats) of ``softmax(logits)``."""
    log_p = F.log_softmax(logits, dim=1)
    return -(log_p.exp() * log_p).sum(dim=1)


def od_loss(seen_logits: torch.Tensor, seen_y: torch.Tensor, unseen_logits: torch.Tensor) -> torch.Tensor:
    """The detector's loss: on real seen features, cross-entropy plus mean entropy (confident,
    right); on synthetic unseen features, minus the mean entropy (as uniform as it gets)."""
    ce = F.cross_entropy(seen_logits, seen_y)
    return ce + entropy(seen_logits).mean() - entropy(unseen_logits).mean()


class Detector(nn.Sequential):
    """The out-of-distribution detector: FC + ReLU, FC + ReLU, FC to the seen classes."""

    def __init__(self, dim: int, hidden: int, n_classes: int):
        super().__init__(
            nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, n_classes)
        )
        for m in self:
            if isinstance(m, nn.Linear):  # the authors' init (f-CLSWGAN's weights_init)
                nn.init.normal_(m.weight, 0.0, 0.02)
                nn.init.zeros_(m.bias)


def train_detector(
    seen_x: torch.Tensor, seen_y: torch.Tensor, unseen_x: torch.Tensor, n_seen: int, c: GZSLODConfig
) -> Detector:
    """Train a detector on real seen features (local labels ``seen_y``) and synthetic unseen
    features; every step takes ``od_batch // 2`` of each, both reshuffled each epoch."""
    det = Detector(seen_x.shape[1], c.od_hidden, n_seen).to(seen_x.device)
    opt = torch.optim.Adam(det.parameters(), lr=c.od_lr, betas=(c.od_beta1, 0.999))
    half = c.od_batch // 2
    n, m = seen_x.shape[0], unseen_x.shape[0]
    steps = math.ceil(n / c.od_batch)
    with torch.enable_grad():
        for _ in range(c.od_epochs):
            s_perm = torch.randperm(n, device=seen_x.device).repeat(math.ceil(steps * half / n))
            u_perm = torch.randperm(m, device=seen_x.device).repeat(math.ceil(steps * half / m))
            for i in range(steps):
                s, u = s_perm[i * half : (i + 1) * half], u_perm[i * half : (i + 1) * half]
                opt.zero_grad(set_to_none=True)
                od_loss(det(seen_x[s]), seen_y[s], det(unseen_x[u])).backward()
                opt.step()
    det.eval()
    return det


@register_framework
class GZSLOD(CLSWGAN):
    name = "gzslod"
    title = "GZSL-OD"
    description = (
        "f-CLSWGAN plus an entropy out-of-distribution detector routing to seen/unseen classifiers (Mandal et al. 2019)"
    )
    config_section = ("gzslod", GZSLODConfig)
    gzsl_rules = {RULE: "GZSL-OD: an entropy out-of-distribution detector routes to a seen or an unseen classifier"}

    def gzsl_rule(self, key: str, task: ZSLTask, cfg: EvalConfig) -> tuple[torch.Tensor, torch.Tensor]:
        """Route each test image by the detector's entropy: below the threshold, the seen
        classifier's class; otherwise the unseen classifier's. Everything is fitted on
        ``task``'s real seen training features and the generator's unseen features."""
        if key != RULE:
            raise KeyError(f"GZSL-OD has no GZSL rule {key!r}")
        c: GZSLODConfig = self.cfg.gzslod
        seen, unseen = LabelMap(task.seen_classes), LabelMap(task.unseen_classes)
        xs, ys = self.synthesize(task.class_vectors, task.unseen_classes, cfg.syn_num_gzsl)
        real, fake = self.classifier_input(task.train_x), self.classifier_input(xs)
        y_real = seen.to_local(task.train_y)
        n_seen, n_unseen = len(task.seen_classes), len(task.unseen_classes)
        seen_clf = train_final_softmax(real, y_real, n_seen, cfg, cfg.final_cls_lr_gzsl)
        unseen_clf = train_final_softmax(fake, unseen.to_local(ys), n_unseen, cfg, cfg.final_cls_lr_zsl)
        det = train_detector(real, y_real, fake, n_seen, c)
        with torch.no_grad():
            threshold = c.threshold_scale * entropy(det(real)).mean()
            out = []
            for x in (task.test_seen_x, task.test_unseen_x):
                z = self.classifier_input(x)
                to_seen = entropy(det(z)) < threshold
                pred_seen = seen.to_global(seen_clf(z).argmax(dim=1))
                pred_unseen = unseen.to_global(unseen_clf(z).argmax(dim=1))
                out.append(torch.where(to_seen, pred_seen, pred_unseen))
        return out[0], out[1]
