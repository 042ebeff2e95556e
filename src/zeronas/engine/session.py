"""What one search or one training updates, and the update step itself.

A :class:`Session` holds G and D (built by :func:`~zeronas.engine.networks.build_networks`),
the framework around them with its extra networks, one optimizer per parameter set, and
the pools of training rows that batches are drawn from. Parameter sets:

- ``w_g``, ``w_d``: the weights of G / D plus the framework's extra groups on that side
  (:meth:`Framework.generator_groups`, :meth:`Framework.critic_side_groups`);
- ``a_g``, ``a_d``: the architecture parameters (alpha, beta) of a supernet; empty, and
  without optimizer, for a discrete network.

:meth:`Session.step` updates one set with every other set frozen (first-order DARTS in a
search; the alternating GAN updates in a training).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Protocol

import torch
from torch import nn

from zeronas.config import Config
from zeronas.data import ZSLTask
from zeronas.engine.networks import Arch, Net, build_networks
from zeronas.engine.optim import adam, arch_optimizer, autocast, set_trainable
from zeronas.errors import ZeroNASError
from zeronas.frameworks import framework_class, group_parameters
from zeronas.frameworks.base import Stats

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # features, class vectors, labels
Pools = dict[str, torch.Tensor]  # name -> indices of training rows
LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], tuple[torch.Tensor, Stats]]


class LoopConfig(Protocol):
    """The settings of a loop (``cfg.train`` for a training, ``cfg.search`` for a search)."""

    batch_size: int
    critic_iters: int
    lr: float
    beta1: float
    cls_weight: float
    gp_weight: float
    precision: str


def epoch_iterations_of(rows: int, batch_size: int) -> int:
    """Iterations of an epoch over ``rows`` rows: batches of ``batch_size``, at least one."""
    return max(1, rows // batch_size)


def task_to(task: ZSLTask, device: torch.device) -> ZSLTask:
    """The task with its tensors on ``device``."""
    moved = copy.copy(task)
    for k, v in vars(task).items():
        if isinstance(v, torch.Tensor):
            setattr(moved, k, v.to(device))
    return moved


def all_rows(task: ZSLTask) -> Pools:
    """One pool, ``train``: every training row (a training's batches)."""
    return {"train": torch.arange(task.train_x.shape[0], device=task.train_x.device)}


def split_halves(task: ZSLTask) -> Pools:
    """``tr`` and ``val``: the training rows split at random into equal halves (Algorithm 1's
    D_tr for the weight steps and D_val for the architecture steps)."""
    perm = torch.randperm(task.train_x.shape[0], device=task.train_x.device)
    half = perm.numel() // 2
    return {"tr": perm[:half], "val": perm[half : 2 * half]}


def split_classes(task: ZSLTask) -> Pools:
    """``tr`` and ``val`` by class: a random half of the training classes each, so that the
    architecture steps score the generator on classes its weights never trained on, as
    zero-shot learning will (``search.split = "class"``)."""
    classes = task.seen_classes.to(task.train_y.device)
    if classes.numel() < 2:
        raise ZeroNASError("search.split = 'class' needs at least 2 search classes")
    perm = classes[torch.randperm(classes.numel(), device=classes.device)]
    val = torch.isin(task.train_y, perm[: classes.numel() // 2])
    return {"tr": torch.nonzero(~val).squeeze(1), "val": torch.nonzero(val).squeeze(1)}


class Session:
    """The networks, framework, optimizers and batch pools of one search or training.

    Args:
        cfg: the whole configuration.
        task: the task trained on (moved to ``device``).
        device: where everything lives.
        arch: a genotype (discrete G and D) or a search space (supernets).
        loop: the loop's settings: batch size, critic steps, weights' Adam, loss weights.
        pools: how the training rows are split into named pools (drawn after the networks
            are built and before the framework, an order that fixes the random draws).
        epoch_rows: rows one epoch passes over, whatever the pool (None: the pool's own); a
            validation fold gets the final training's with ``train.fold_epoch = "final"``.
    """

    def __init__(
        self,
        cfg: Config,
        task: ZSLTask,
        device: torch.device,
        arch: Arch,
        loop: LoopConfig,
        pools: Callable[[ZSLTask], Pools] = all_rows,
        epoch_rows: int | None = None,
    ):
        self.cfg, self.device, self.loop, self.epoch_rows = cfg, device, loop, epoch_rows
        self.task = task = task_to(task, device)
        kind = framework_class(cfg.model.framework)
        G, D = build_networks(cfg, task, arch, critic=kind.uses_critic)
        self.G: Net = G.to(device)
        self.D: Net | None = D.to(device) if D is not None else None
        self.pools = pools(task)
        self.fw = kind(self.G, self.D, task, cfg, loop.cls_weight, loop.gp_weight)
        self.fw.extras.to(device)
        self.params: dict[str, list[nn.Parameter]] = {}
        self.opt: dict[str, torch.optim.Optimizer] = {}
        self._side("g", self.G, self.fw.generator_groups())
        if self.D is not None:
            self._side("d", self.D, self.fw.critic_side_groups())
        self.all_params = [p for ps in self.params.values() for p in ps]
        self.fw.prepare()

    def _side(self, side: str, net: Net, groups: list[dict]) -> None:
        weights, arch = net.weight_parameters(), net.arch_parameters()
        self.params[f"w_{side}"] = weights + group_parameters(groups)
        self.opt[f"w_{side}"] = adam(weights, groups, self.loop.lr, self.loop.beta1)
        self.params[f"a_{side}"] = arch
        if arch:
            self.opt[f"a_{side}"] = arch_optimizer(arch, self.cfg.search)

    def searches(self, side: str) -> bool:
        """Whether G (``g``) or D (``d``) has architecture parameters to update."""
        return bool(self.params.get(f"a_{side}"))

    def iterations(self, pool: str) -> int:
        """Iterations of one epoch over ``pool``: its rows (or :attr:`epoch_rows`) divided by the
        batch size, at least 1."""
        rows = self.epoch_rows if self.epoch_rows is not None else self.pools[pool].numel()
        return epoch_iterations_of(rows, self.loop.batch_size)

    def batch(self, pool: str) -> Batch:
        """``batch_size`` training rows drawn with replacement from ``pool``; the framework is
        told which rows (:attr:`Framework.rows`)."""
        rows = self.pools[pool]
        idx = rows[torch.randint(rows.numel(), (self.loop.batch_size,), device=self.device)]
        self.fw.rows = idx
        y = self.task.train_y[idx]
        return self.task.train_x[idx], self.task.class_vectors[y], y

    def step(self, key: str, loss: LossFn, pool: str) -> list[torch.Tensor]:
        """Draw a batch from ``pool``, then update parameter set ``key`` (every other set
        frozen) on ``loss``; returns the loss and the loss's figures, detached. The backward pass
        computes the gradients of that set only (none of e.g. the gradient penalty's inputs)."""
        batch = self.batch(pool)
        params = self.params[key]
        set_trainable(self.all_params, params)
        with autocast(self.device, self.loop.precision):
            value, stats = loss(*batch)
        opt = self.opt[key]
        opt.zero_grad(set_to_none=True)
        value.backward(inputs=params)
        opt.step()
        return [value.detach(), *stats.values()]

    def state_dict(self) -> dict:
        return {
            "G": self.G.state_dict(),
            "D": self.D.state_dict() if self.D is not None else None,
            "framework": self.fw.state_dict(),
            "opt": {k: o.state_dict() for k, o in self.opt.items()},
            "pools": self.pools,
        }

    def load_state_dict(self, state: dict) -> None:
        self.G.load_state_dict(state["G"])
        if self.D is not None:
            self.D.load_state_dict(state["D"])
        self.fw.load_state_dict(state["framework"])
        for k, o in self.opt.items():
            o.load_state_dict(state["opt"][k])
        if "pools" in state:  # a layout-2 training checkpoint has none: its pool is every row
            self.pools = {k: v.to(self.device) for k, v in state["pools"].items()}
