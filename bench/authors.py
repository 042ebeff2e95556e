"""One search iteration laid out as the authors' code lays it out, for ``search_step.py``.

Written from the paper's Algorithm 1 and from what the authors' published search script
does (read, not copied): every operation of every edge its own module, mixed in a Python
loop (``ReferenceSupernet`` of ``reference.py``), and the step structure of their script:

* a critic step (architecture, then weights) backpropagates three times: ``-D(real)``,
  ``D(fake)`` and the gradient penalty, each with its own ``backward()``; the fakes come
  from a generator forward pass that records its graph (detached only at the critic's
  input);
* nothing is frozen, except the critic's parameters in the two generator steps, so the
  architecture steps also compute (and discard) every weight gradient;
* each step zeroes the gradients of its own optimizer only (``zero_grad()`` to zero, not
  None), so the other parameters' gradients keep accumulating;
* the two generator steps draw no batch of their own: they reuse the class vectors and
  labels of the last critic batches;
* the weights' Adam uses betas (0.9, 0.999); the architecture parameters have their own
  Adam with weight decay.

The losses and data are those of ``reference.ReferenceSearch``, its base class: same class
vectors, features, batch size, ``n_d``, widths and frozen classifier, so the FLOPs differ only by the layout.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from reference import ReferenceSearch


class AuthorsSearch(ReferenceSearch):
    """Algorithm 1 in the authors' layout (see the module docstring): the networks, halves,
    batches and frozen classifier of :class:`ReferenceSearch`, the authors' optimizers and steps."""

    def __init__(self, cfg, task):
        super().__init__(cfg, task)
        s = cfg.search
        self.nz = cfg.model.noise_dim or task.attr_dim
        self.opt = {
            "a_d": torch.optim.Adam(self.D.arch_parameters(), lr=s.arch_lr, weight_decay=s.arch_weight_decay),
            "w_d": torch.optim.Adam(self.D.weight_parameters(), lr=s.lr),
            "a_g": torch.optim.Adam(self.G.arch_parameters(), lr=s.arch_lr, weight_decay=s.arch_weight_decay),
            "w_g": torch.optim.Adam(self.G.weight_parameters(), lr=s.lr),
        }

    def _critic_step(self, key, half):
        x, c, y = self._batch(half)
        self.opt[key].zero_grad(set_to_none=False)
        (-self.D(x, c).mean()).backward()
        fake = self.G(torch.randn(x.shape[0], self.nz, device=self.device), c)
        self.D(fake.detach(), c).mean().backward()
        eta = torch.rand(x.shape[0], 1, device=self.device)
        xhat = (eta * x + (1 - eta) * fake.detach()).requires_grad_(True)
        (grad,) = torch.autograd.grad(self.D(xhat, c).sum(), xhat, create_graph=True, retain_graph=True)
        (self.fw.gp_weight * ((grad.norm(2, dim=1) - 1) ** 2).mean()).backward()
        self.opt[key].step()
        return c, y

    def _generator_step(self, key, c, y):
        self.opt[key].zero_grad(set_to_none=False)
        fake = self.G(torch.randn(c.shape[0], self.nz, device=self.device), c)
        ce = F.cross_entropy(self.fw.classifier(fake), self.fw.labels.to_local(y))
        (-self.D(fake, c).mean() + self.fw.cls_weight * ce).backward()
        self.opt[key].step()

    def iteration(self):
        for p in self.D.parameters():
            p.requires_grad_(True)
        for _ in range(self.cfg.search.critic_iters):
            val = self._critic_step("a_d", "val")
            train = self._critic_step("w_d", "tr")
        for p in self.D.parameters():
            p.requires_grad_(False)
        self._generator_step("a_g", *val)
        self._generator_step("w_g", *train)
