"""The loops: one engine under the search and the trainer.

- ``networks``: :func:`build_networks` from a genotype or a :class:`SearchSpace`;
- ``session``: :class:`Session` (networks, framework, optimizers, batch pools) and its
  update :meth:`Session.step`;
- ``runner``: :class:`EpochRunner`, the epoch loop (resume, seeding, progress,
  finiteness, logging, checkpoints) and :class:`Stage`, what an epoch does;
- ``search`` and ``train``: the two programs on top of them.
"""

from zeronas.engine.networks import Arch, SearchSpace, build_networks
from zeronas.engine.runner import EpochRunner, Stage, check_finite
from zeronas.engine.search import gumbel_temperature, search, search_epoch, search_iteration, search_session
from zeronas.engine.session import Session, all_rows, split_halves
from zeronas.engine.train import select_stage, train_and_evaluate, train_epoch, train_stage

__all__ = [
    "Arch",
    "EpochRunner",
    "SearchSpace",
    "Session",
    "Stage",
    "all_rows",
    "build_networks",
    "check_finite",
    "gumbel_temperature",
    "search",
    "search_epoch",
    "search_iteration",
    "search_session",
    "select_stage",
    "split_halves",
    "train_and_evaluate",
    "train_epoch",
    "train_stage",
]
