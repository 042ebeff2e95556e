"""What a feature-generating framework is, to the search, the trainer and the evaluation.

A framework wraps a generator ``G(z, c)`` and, if it has one, a critic ``D(x, c)``; both
are given to it (discrete networks or supernets), so that the same search space serves
every framework. It owns everything else: extra networks (an encoder, a semantic
decoder, a feedback module, a frozen classifier, ...) in :attr:`Framework.extras`, the
losses of the critic steps and of the generator steps, and the way synthetic features
are produced and fed to the final classifier.

The trainer and the search call, per iteration, ``critic_iters`` x :meth:`critic_loss`
(skipped when :attr:`uses_critic` is false, as for ZSL-ABP) and one
:meth:`generator_loss`; each step updates the weights of one side: D's (or the
architecture parameters of D, in the search) plus :meth:`critic_side_groups`, then G's plus
:meth:`generator_groups`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, ClassVar

import torch
from torch import nn

from zeronas.config import Config, EvalConfig

if TYPE_CHECKING:
    from zeronas.data import ZSLTask

Stats = dict[str, torch.Tensor]


class Projection(nn.Module):
    """The projection term of a conditional critic (Miyato & Koyama 2018): ``<W x, c>``.

    A critic that reads ``c`` only by concatenation learns the class-conditional part of the
    distribution weakly; this bilinear term scores directly how well a feature agrees with
    its class vector. ``W`` starts at zero, so the critic starts as the network alone.
    """

    def __init__(self, feature_dim: int, attr_dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(attr_dim, feature_dim))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return ((x @ self.weight.T) * c).sum(dim=1, keepdim=True)


class ProjectedCritic(nn.Module):
    """``D(x, c) + <W x, c>``: the critic the losses see with ``model.critic_projection``."""

    def __init__(self, D: nn.Module, projection: Projection):
        super().__init__()
        self.D, self.projection = D, projection

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.D(x, c) + self.projection(x, c)


class Framework:
    """Base class: subclasses set the class attributes and implement the two losses.

    Args:
        G: the generator, called ``G(z, c)`` (and ``G(z, c, feedback)``, see DiscreteNet).
        D: the critic ``D(x, c)``, or None (a framework without critic, or synthesis only).
        task: the task being trained on, already on its device.
        cfg: the whole configuration (framework sections included).
        cls_weight, gp_weight: classification and gradient-penalty weights; the search
            and the retraining each pass their own.
    """

    name: ClassVar[str] = ""  # --framework NAME, model.framework
    title: ClassVar[str] = ""  # as in the paper's tables
    description: ClassVar[str] = ""  # one line: what it adds (--help, docs)
    #: Its own config section, ``(name, dataclass)``: ``[name]`` in TOML, ``cfg.<name>`` here.
    config_section: ClassVar[tuple[str, type] | None] = None
    uses_critic: ClassVar[bool] = True
    critic_stats: ClassVar[tuple[str, ...]] = ()  # extra figures a critic step reports, in order
    generator_stats: ClassVar[tuple[str, ...]] = ()
    #: A label for each of those figures, for the plots' legends.
    terms: ClassVar[dict[str, str]] = {}
    #: Extra GZSL decision rules of the framework, ``key -> label``, each reported beside the
    #: plain and calibrated GZSL (:meth:`gzsl_rule`; ``metrics.json["rules"][key]``).
    gzsl_rules: ClassVar[dict[str, str]] = {}

    def __init__(
        self, G: nn.Module, D: nn.Module | None, task: ZSLTask, cfg: Config, cls_weight: float, gp_weight: float
    ):
        self.G, self.D, self.task, self.cfg = G, D, task, cfg
        self.cls_weight, self.gp_weight = cls_weight, gp_weight
        self.noise_dim = cfg.model.noise_dim or task.attr_dim
        self.device = task.train_x.device
        self.extras = nn.ModuleDict()
        #: The rows of ``task.train_x`` in the batch a loss is computed on: set by the engine
        #: before each step, for state kept per training sample (ZSL-ABP's latent codes);
        #: None when a loss is called outside the engine.
        self.rows: torch.Tensor | None = None
        self._critic: nn.Module | None = D
        if D is not None and cfg.model.critic_projection:
            projection = Projection(task.feature_dim, task.attr_dim)
            self.extras["projection"] = projection
            self._critic = ProjectedCritic(D, projection)

    @property
    def critic(self) -> nn.Module:
        """D, or ``D + <W x, c>`` with ``model.critic_projection``, for the losses of a framework
        that has one."""
        if self._critic is None:
            raise RuntimeError(f"framework {self.name!r}: no critic was given")
        return self._critic

    # ------------------------------------------------------------------ training
    def prepare(self) -> None:
        """One-off work on the training data before the first step (e.g. a frozen classifier)."""

    def generator_groups(self) -> list[dict]:
        """Adam parameter groups updated together with G's weights (``lr``/``betas`` optional)."""
        return []

    def critic_groups(self) -> list[dict]:
        """Adam parameter groups updated together with D's weights."""
        return []

    def critic_side_groups(self) -> list[dict]:
        """:meth:`critic_groups` plus the projection term's weight when there is one."""
        own = [{"params": list(self.extras["projection"].parameters())}] if "projection" in self.extras else []
        return self.critic_groups() + own

    def critic_loss(self, x: torch.Tensor, c: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, Stats]:
        """Loss of one critic step on real features ``x`` of classes ``y`` with class vectors ``c``."""
        raise NotImplementedError

    def generator_loss(self, x: torch.Tensor, c: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, Stats]:
        """Loss of one generator step on a batch."""
        raise NotImplementedError

    def noise(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.noise_dim, device=self.device)

    # ------------------------------------------------------------------ synthesis
    def generate(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """Synthetic features for noise ``z`` and class vectors ``c`` (evaluation time)."""
        return self.G(z, c)

    @torch.no_grad()
    def synthesize(
        self, class_vectors: torch.Tensor, classes: torch.Tensor, per_class: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``per_class`` synthetic features for each class in ``classes``, in eval mode."""
        device = class_vectors.device
        y = classes.to(device).repeat_interleave(per_class)
        with self.evaluating():
            x = torch.cat(
                [
                    self.generate(torch.randn(chunk.numel(), self.noise_dim, device=device), class_vectors[chunk])
                    for chunk in y.split(4096)
                ]
            )
        return x, y

    def classifier_input(self, x: torch.Tensor) -> torch.Tensor:
        """What the final classifier sees of a (real or synthetic) feature: itself by default."""
        return x

    def gzsl_rule(self, key: str, task: ZSLTask, cfg: EvalConfig) -> tuple[torch.Tensor, torch.Tensor]:
        """GZSL rule ``key`` (one of :attr:`gzsl_rules`) on ``task``: the predicted global class
        of each test-seen and each test-unseen image, over all of ``task``'s classes.

        Whatever the rule fits (classifiers, thresholds) must come from ``task``'s training side
        (``train_x``, ``train_y``, class vectors) and the generator, or be fixed in advance: it
        is called on every validation fold, where its epoch is chosen, and once on the test task.
        """
        raise NotImplementedError(f"framework {self.name!r} has no GZSL rule {key!r}")

    # ------------------------------------------------------------------ modes and state
    def modules(self) -> list[nn.Module]:
        return [m for m in (self.G, self.D, self.extras) if m is not None]

    def train(self, mode: bool = True) -> None:
        for m in self.modules():
            m.train(mode)

    @contextmanager
    def evaluating(self) -> Iterator[None]:
        modes = [m.training for m in self.modules()]
        self.train(False)
        try:
            yield
        finally:
            for m, was in zip(self.modules(), modes, strict=True):
                m.train(was)

    def state_dict(self) -> dict:
        """The extras' state (G and D are saved by their owner)."""
        return self.extras.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.extras.load_state_dict(state)


def group_parameters(groups: list[dict]) -> list[nn.Parameter]:
    return [p for g in groups for p in g["params"]]
