"""How decisive a derived architecture is: margins of its choices and their stability.

A search whose softmax(alpha) and softmax(beta) stay near uniform has not run, whatever
it derived: the genotype is then decided by initialisation noise. For every choice the
derivation makes (SPEC §6) we record a margin:

- per kept edge, the *operation margin*: top-1 minus top-2 of softmax(alpha) of that edge;
- per node, the *edge margin*: the lowest kept in-edge weight minus the highest dropped one
  (softmax(beta)); for ``keep = 1`` this is top-1 minus top-2. A node with no dropped
  in-edge has no edge margin.

Margins are compared with their value at initialisation (``alpha, beta ~ 1e-3 N(0, 1)``):
a search that has learned has median margins many times larger.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

import numpy as np

#: Median operation margin over the initial one below which a search counts as undecided.
DECISIVE_RATIO = 10.0
#: Fraction of the last search epochs over which the genotype must not change.
STABLE_FRACTION = 0.25


class NetMargins(TypedDict):
    """Margins of one network: per kept edge (``"i->j"``), per node, and their medians."""

    op: dict[str, float]
    edge: dict[str, float]
    op_median: float
    edge_median: float


def _top2_gap(w: Sequence[float] | np.ndarray) -> float:
    s = np.sort(np.asarray(w, dtype=float))[::-1]
    return float(s[0] - s[1]) if s.size > 1 else float("nan")


def net_margins(arch: dict, keep: int) -> NetMargins:
    """Margins of one network from its ``arch_state()`` (``alpha``: edge -> softmax over ops,
    ``beta``: node -> softmax over in-edges).

    Returns per-edge operation margins of the *kept* edges, per-node edge margins, and their
    medians (``op_median``, ``edge_median``).
    """
    alpha: dict[str, list[float]] = arch["alpha"]
    beta: dict[str, list[float]] = arch["beta"]
    op: dict[str, float] = {}
    edge: dict[str, float] = {}
    for node, weights in beta.items():
        w = np.asarray(weights, dtype=float)
        order = np.argsort(-w, kind="stable")
        kept, dropped = order[:keep], order[keep:]
        if dropped.size:
            edge[node] = float(w[kept].min() - w[dropped].max())
        for src in kept:
            key = f"{int(src)}->{node}"
            if key in alpha:
                op[key] = _top2_gap(alpha[key])
    return {
        "op": op,
        "edge": edge,
        "op_median": float(np.median(list(op.values()))) if op else float("nan"),
        "edge_median": float(np.median(list(edge.values()))) if edge else float("nan"),
    }


def all_op_margins(arch: dict) -> list[float]:
    """Operation margins of every mixed edge (kept or not): the initial reference uses these."""
    return [_top2_gap(w) for w in arch["alpha"].values()]


def stable_epochs(genotypes: list[str], of: str | None = None) -> int:
    """How many of the last entries equal ``of`` (default the last one): the genotype's
    unchanged run at the end of the search, 0 for a genotype the search moved away from."""
    target = genotypes[-1] if of is None else of
    n = 0
    for g in reversed(genotypes):
        if g != target:
            break
        n += 1
    return n


def stability_by_role(by_role: dict[str, int]) -> str:
    """``generator 4, critic 1``: each network's unchanged run, for logs and warnings."""
    return ", ".join(f"{role} {n}" for role, n in by_role.items())


def margins_text(verdict: Mapping[str, Any]) -> str:
    """``median operation margins generator 0.86 (1933x initial), critic ...; median in-edge
    margins generator 0.17, critic ...`` from a verdict's ``op_median``, ``op_ratio`` and
    ``edge_median`` (:meth:`Decisiveness.to_dict`, or ``genotype.json["search"]``). A network
    without a dropped in-edge has no in-edge margin (NaN) and is left out of it."""
    ops = ", ".join(f"{r} {v:.3g} ({verdict['op_ratio'][r]:.0f}x initial)" for r, v in verdict["op_median"].items())
    edges = ", ".join(f"{r} {v:.3g}" for r, v in verdict.get("edge_median", {}).items() if math.isfinite(v))
    return f"median operation margins {ops}" + (f"; median in-edge margins {edges}" if edges else "")


@dataclass
class Decisiveness:
    """A search's verdict on its own result, written to genotype.json and the metrics."""

    op_median: dict[str, float]  # per role, median operation margin of the kept edges
    edge_median: dict[str, float]
    op_median_init: dict[str, float]  # per role, median over all edges at initialisation
    op_ratio: dict[str, float]  # op_median / op_median_init
    stable_epochs: int  # of the pair
    stable_by_role: dict[str, int]  # of each network: which one kept changing
    epochs: int
    decisive: bool
    warnings: list[str]

    def to_dict(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def assess(arch_history: list[dict], init: dict, keep: int, chosen: int | None = None) -> Decisiveness:
    """Judge a finished search's genotype from its per-epoch arch history and the initial
    arch state.

    ``chosen`` is the epoch whose genotype the search hands on (``search.select``; default
    the last). Its margins are those of the arch state that derived it, and it counts as
    stable for as many of the last epochs as derived the same genotype, so a genotype the
    search moved away from is never stable. Decisive means: for every searched network the
    median operation margin of the kept edges is at least :data:`DECISIVE_RATIO` times the
    initial median, and the genotype was the one derived in the last
    :data:`STABLE_FRACTION` of the epochs (at least the last two).
    """
    entry = arch_history[-1] if chosen is None else next(a for a in arch_history if a["epoch"] == chosen)
    roles = [r for r in ("generator", "critic") if r in entry and r in init]
    op_med: dict[str, float] = {}
    edge_med: dict[str, float] = {}
    op_init: dict[str, float] = {}
    ratio: dict[str, float] = {}
    warnings: list[str] = []
    for role in roles:
        m = net_margins(entry[role], keep)
        op_med[role], edge_med[role] = m["op_median"], m["edge_median"]
        op_init[role] = float(np.median(all_op_margins(init[role])))
        ratio[role] = op_med[role] / op_init[role] if op_init[role] > 0 else float("inf")
        if not ratio[role] >= DECISIVE_RATIO:
            warnings.append(
                f"{role}: median operation margin {op_med[role]:.2g} is only {ratio[role]:.1f}x its initial "
                f"value ({op_init[role]:.2g}); the operations are decided by noise"
            )
    by_role = {
        r: stable_epochs([a["genotype"][r] for a in arch_history], entry["genotype"][r])
        for r in ("generator", "critic")
    }
    n_stable = min(by_role.values())  # the pair changes when either network does
    need = max(2, math.ceil(STABLE_FRACTION * len(arch_history)))
    if entry["genotype"] != arch_history[-1]["genotype"]:
        warnings.append(f"the chosen genotype (epoch {entry['epoch']}) is not the one the search ended on")
    if n_stable < need:
        warnings.append(
            f"the genotype changed within the last {need} epochs "
            f"(unchanged for the last {n_stable}: {stability_by_role(by_role)})"
        )
    return Decisiveness(op_med, edge_med, op_init, ratio, n_stable, by_role, len(arch_history), not warnings, warnings)


__all__ = [
    "DECISIVE_RATIO",
    "STABLE_FRACTION",
    "Decisiveness",
    "assess",
    "margins_text",
    "net_margins",
    "stability_by_role",
    "stable_epochs",
]
