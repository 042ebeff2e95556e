"""Meta-GZSL (Verma, Brahma, Rai, AAAI'20): f-CLSWGAN trained episodically, first-order MAML.

Every critic step and every generator step is a meta-learning step on one task. The step's
batch is split by class into a support part and a query part whose classes are disjoint
(a random half of the batch's classes each, :func:`split_task`), so that the networks learn
weights that, adapted on some classes, generate well for *other* classes, as zero-shot
learning asks of them. The step's side (D's weights in a critic step, G's in a generator
step) is adapted by ``inner_steps`` plain gradient steps of size ``inner_lr`` on the support
part's f-CLSWGAN loss; the returned loss is the query part's loss at the adapted weights.

This is **first-order** MAML: the inner gradients are detached, so the adapted weights are
``w' = w - inner_lr * sum_k g_k`` with constant ``g_k``, and the gradient of the query loss
with respect to ``w`` is its gradient at ``w'`` (:func:`first_order_adapt`). Only weights
are adapted: the architecture parameters of a supernet (alpha, beta) are never touched by
the inner steps, and in an architecture step they receive the query loss's gradient at the
adapted weights. The inner steps write nothing in place (no ``.grad``, no running
statistics) and are invisible to the optimiser: the outer update is the session's own.

Defaults are the authors' published values (``update_lr = 1e-3``, ``update_step = 5`` in
every notebook of github.com/vkverma01/meta-gzsl); the differences from their code are
listed in ``docs/frameworks.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call

from zeronas.config import setting
from zeronas.frameworks.base import Stats
from zeronas.frameworks.clswgan import CLSWGAN
from zeronas.frameworks.registry import register_framework
from zeronas.frameworks.wgan import generator_terms, wgan_critic_loss


@dataclass
class MetaGZSLConfig:
    """``[metagzsl]``: Meta-GZSL's inner loop, with the authors' values (all notebooks).

    ``inner_lr`` and ``inner_steps`` are ``update_lr`` and ``update_step`` of the notebooks of
    github.com/vkverma01/meta-gzsl (CUB and AWA2, ZSL and GZSL alike)."""

    inner_lr: float = setting(1e-3, "step size of the inner (support) gradient steps", gt=0)
    inner_steps: int = setting(5, "inner gradient steps on the support classes per meta step", min=1)


class Adapted(nn.Module):
    """``net`` called with some of its parameters (and buffers) replaced, through
    ``torch.func.functional_call``; the module itself is not changed."""

    net: nn.Module

    def __init__(self, net: nn.Module, tensors: dict[str, torch.Tensor]):
        super().__init__()
        object.__setattr__(self, "net", net)  # not a submodule: its parameters stay its own
        self.tensors = tensors

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        return functional_call(self.net, self.tensors, args)


def weight_names(net: nn.Module) -> list[str]:
    """Names of ``net``'s weights: every parameter but a supernet's architecture parameters."""
    arch_of = getattr(net, "arch_parameters", None)
    arch = {id(p) for p in arch_of()} if arch_of is not None else set()
    return [n for n, p in net.named_parameters() if id(p) not in arch]


def first_order_adapt(
    net: nn.Module, support_loss: Callable[[nn.Module], torch.Tensor], lr: float, steps: int
) -> tuple[Adapted, torch.Tensor]:
    """``net`` at the weights of ``steps`` first-order inner gradient steps on ``support_loss``.

    Returns the adapted network, whose weights are ``w - lr * sum_k g_k`` with each support
    gradient ``g_k`` detached (so the gradient of a loss of the adapted network with respect
    to ``w`` is its gradient at the adapted weights: first-order MAML), and the support loss
    before the first step (detached). Architecture parameters are not adapted. The support
    passes run on copies of the buffers (batch-norm statistics are not updated) and leave no
    ``.grad`` anywhere.
    """
    params = dict(net.named_parameters())
    names = weight_names(net)
    shift = {n: torch.zeros_like(params[n]) for n in names}
    first: torch.Tensor | None = None
    for _ in range(steps):
        leaves = {n: (params[n].detach() - lr * shift[n]).requires_grad_(True) for n in names}
        buffers = {n: b.clone() for n, b in net.named_buffers()}
        loss = support_loss(Adapted(net, {**leaves, **buffers}))
        if first is None:
            first = loss.detach()
        grads = torch.autograd.grad(loss, list(leaves.values()), allow_unused=True)
        for n, g in zip(names, grads, strict=True):
            if g is not None:  # an unused weight (an operation outside the candidates) stays put
                shift[n] = shift[n] + g.detach()
    assert first is not None
    return Adapted(net, {n: params[n] - lr * shift[n] for n in names}), first


def split_task(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """A task from a batch's labels: (support rows, query rows), the rows of a random half
    of the batch's classes and of the other half (disjoint classes). None when the batch
    holds no task: a single class, or a part of a single row (batch norm needs two)."""
    classes = y.unique()
    if classes.numel() < 2:
        return None
    perm = classes[torch.randperm(classes.numel(), device=y.device)]
    support = torch.isin(y, perm[: classes.numel() // 2])
    n_support = int(support.sum())
    if min(n_support, y.numel() - n_support) < 2:
        return None
    return torch.nonzero(support).squeeze(1), torch.nonzero(~support).squeeze(1)


@register_framework
class MetaGZSL(CLSWGAN):
    name = "metagzsl"
    title = "Meta-GZSL"
    description = "f-CLSWGAN trained episodically by first-order MAML on class-disjoint tasks (Verma et al. 2020)"
    config_section = ("metagzsl", MetaGZSLConfig)
    critic_stats = ("wasserstein", "critic_support")
    generator_stats = ("cls_loss", "generator_support")
    terms = {
        **CLSWGAN.terms,
        "critic_support": "critic loss on the support classes, before adaptation",
        "generator_support": "generator loss on the support classes, before adaptation",
    }

    # f-CLSWGAN's losses, with the network of the step's side given
    def _critic_terms(self, D: nn.Module, x: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            fake = self.G(self.noise(x.shape[0]), c)
        return wgan_critic_loss(D, x, fake, c, self.gp_weight)

    def _generator_terms(self, G: nn.Module, c: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fake = G(self.noise(c.shape[0]), c)
        adv, ce = generator_terms(self.critic, self.classifier, fake, c, self.labels.to_local(y))
        return adv + self.cls_weight * ce, ce

    def _adapt(self, net: nn.Module, loss: Callable[[nn.Module], torch.Tensor]) -> tuple[Adapted, torch.Tensor]:
        m = self.cfg.metagzsl
        return first_order_adapt(net, loss, m.inner_lr, m.inner_steps)

    def critic_loss(self, x: torch.Tensor, c: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, Stats]:
        """WGAN-GP on the query classes, at D's weights adapted on the support classes."""
        task = split_task(y)
        if task is None:  # no task in this batch: a plain f-CLSWGAN step
            loss, w_dist = self._critic_terms(self.critic, x, c)
            return loss, {"wasserstein": w_dist, "critic_support": loss.detach()}
        s, q = task
        D, support = self._adapt(self.critic, lambda net: self._critic_terms(net, x[s], c[s])[0])
        loss, w_dist = self._critic_terms(D, x[q], c[q])
        return loss, {"wasserstein": w_dist, "critic_support": support}

    def generator_loss(self, x: torch.Tensor, c: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, Stats]:
        """f-CLSWGAN's generator loss on the query classes, at G's weights adapted on the
        support classes (D and the frozen classifier as they are)."""
        task = split_task(y)
        if task is None:
            loss, ce = self._generator_terms(self.G, c, y)
            return loss, {"cls_loss": ce.detach(), "generator_support": loss.detach()}
        s, q = task
        G, support = self._adapt(self.G, lambda net: self._generator_terms(net, c[s], y[s])[0])
        loss, ce = self._generator_terms(G, c[q], y[q])
        return loss, {"cls_loss": ce.detach(), "generator_support": support}
