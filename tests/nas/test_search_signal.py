"""What makes a search result trustworthy: margins of the derived choices, random genotypes
(the random-search baseline), the architecture parameters' ability to learn, and the
narrower candidate sets."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from zeronas.nas.genotype import random_genotype
from zeronas.nas.margins import DECISIVE_RATIO, assess, margins_text, net_margins, stable_epochs
from zeronas.nas.ops import OP_SETS, OPS
from zeronas.nas.supernet import Supernet

# --------------------------------------------------------------------------- margins


def _arch(alpha_rows: dict[str, list[float]], beta_rows: dict[str, list[float]]) -> dict:
    return {"alpha": alpha_rows, "beta": beta_rows}


def test_net_margins_by_hand():
    arch = _arch(
        {"0->3": [0.5, 0.3, 0.2], "1->3": [0.4, 0.4, 0.2], "2->3": [0.9, 0.05, 0.05]},
        {"3": [0.5, 0.3, 0.2]},
    )
    m = net_margins(arch, keep=2)
    # node 3 keeps sources 0 and 1 (beta 0.5, 0.3), drops 2 (0.2): edge margin 0.3 - 0.2
    assert m["edge"] == {"3": pytest.approx(0.1)}
    assert m["op"] == {"0->3": pytest.approx(0.2), "1->3": pytest.approx(0.0)}
    assert m["op_median"] == pytest.approx(0.1)


def test_assess_flags_a_search_that_did_not_move():
    uniform = _arch({"0->3": [0.125] * 8, "1->3": [0.1251] + [0.125] * 7}, {"3": [0.34, 0.33, 0.33]})
    history = [{"generator": uniform, "genotype": {"generator": "g", "critic": "d"}}] * 4
    verdict = assess(history, {"generator": uniform}, keep=2)
    assert not verdict.decisive and any("noise" in w for w in verdict.warnings)
    moved = _arch({"0->3": [0.6] + [0.4 / 7] * 7, "1->3": [0.5] + [0.5 / 7] * 7}, {"3": [0.6, 0.3, 0.1]})
    history = [{"generator": moved, "genotype": {"generator": "g", "critic": "d"}}] * 4
    verdict = assess(history, {"generator": uniform}, keep=2)
    assert verdict.decisive and verdict.op_ratio["generator"] >= DECISIVE_RATIO


def test_assess_flags_an_unstable_genotype():
    moved = _arch({"0->3": [0.9, 0.1]}, {"3": [0.6, 0.3, 0.1]})
    init = _arch({"0->3": [0.5001, 0.4999]}, {"3": [0.34, 0.33, 0.33]})
    genos = ["a", "b", "a", "b"]
    history = [{"generator": moved, "genotype": {"generator": g, "critic": "d"}} for g in genos]
    verdict = assess(history, {"generator": init}, keep=2)
    assert not verdict.decisive and verdict.stable_epochs == 1
    # the verdict says which network kept changing
    assert verdict.stable_by_role == {"generator": 1, "critic": 4}
    assert any("generator 1, critic 4" in w for w in verdict.warnings)
    assert stable_epochs(["x", "y", "y", "y"]) == 3


def test_assess_judges_the_chosen_genotype_not_the_last_one():
    """With ``search.select = "val"`` an earlier genotype may win: its own margins are
    reported, and a genotype the search moved away from is not stable."""
    init = _arch({"0->3": [0.5001, 0.4999]}, {"3": [0.34, 0.33, 0.33]})
    weak, strong = (
        _arch({"0->3": [0.51, 0.49]}, {"3": [0.4, 0.35, 0.25]}),
        _arch({"0->3": [0.9, 0.1]}, {"3": [0.6, 0.3, 0.1]}),
    )
    history = [
        {"epoch": e, "generator": arch, "genotype": {"generator": g, "critic": "d"}}
        for e, arch, g in [(1, weak, "a"), (2, weak, "a"), (3, strong, "b"), (4, strong, "b")]
    ]
    last = assess(history, {"generator": init}, keep=2)
    assert last.decisive and last.stable_epochs == 2
    assert assess(history, {"generator": init}, keep=2, chosen=4).to_dict() == last.to_dict()
    early = assess(history, {"generator": init}, keep=2, chosen=2)
    assert early.op_median["generator"] == pytest.approx(0.02)  # epoch 2's margins, not epoch 4's 0.8
    assert early.stable_by_role == {"generator": 0, "critic": 4} and not early.decisive
    assert any("epoch 2" in w and "not the one the search ended on" in w for w in early.warnings)
    assert stable_epochs(["a", "b", "b"], of="a") == 0


# --------------------------------------------------------------------------- random genotypes


@pytest.mark.parametrize("role", ["generator", "critic"])
def test_random_genotypes_are_valid_seeded_and_varied(role):
    widths = (8, 8, 8, 8)
    draws = [str(random_genotype(role, widths, np.random.default_rng(s))) for s in range(20)]
    assert draws[0] == str(random_genotype(role, widths, np.random.default_rng(0)))
    assert len(set(draws)) > 15
    plain = random_genotype(role, widths, np.random.default_rng(3), ops=OP_SETS["plain"])
    used = {e.op for n in plain.nodes for e in n.inputs} | {e.op for e in plain.output}
    assert used <= set(OP_SETS["plain"]) | {"linear"}
    for n in plain.nodes:
        assert len(n.inputs) == 2 and len({e.src for e in n.inputs}) == 2


def test_random_genotype_ops_are_uniform():
    rng = np.random.default_rng(0)
    counts = dict.fromkeys(OPS, 0)
    for _ in range(300):
        g = random_genotype("generator", (8, 8, 8, 8), rng)
        for e in [e for n in g.nodes for e in n.inputs] + list(g.output):
            counts[e.op] += 1
    total = sum(counts.values())
    assert all(abs(c / total - 1 / 8) < 0.04 for c in counts.values())


# --------------------------------------------------------------------------- the space can learn


def test_alpha_concentrates_on_the_clearly_right_operation():
    """A regression whose teacher is FC + LeakyReLU with mostly negative outputs, which no
    ReLU edge (nor any sum of them) can produce: with the first-order alternation of the
    search (weights on one half, alpha on the other), softmax(alpha) moves decisively to
    fc_lrelu on every edge. Protects: a space or an arch optimiser that cannot learn (alpha
    frozen, wrong sign, operations mixed up)."""
    torch.manual_seed(0)
    net = Supernet("generator", (4, 4), (), 6, ops=OP_SETS["plain"])
    teacher = torch.nn.Linear(8, 6)
    x = torch.randn(2048, 4), torch.randn(2048, 4)
    with torch.no_grad():
        y = F.leaky_relu(teacher(torch.cat(x, 1)) * 3 - 2.0, 0.2)
    w_opt = torch.optim.Adam(net.weight_parameters(), lr=1e-2)
    a_opt = torch.optim.Adam(net.arch_parameters(), lr=3e-2)
    for step in range(300):
        idx = torch.randint(0, 1024, (64,)) + (1024 if step % 2 else 0)  # alternate halves
        opt = a_opt if step % 2 else w_opt
        opt.zero_grad()
        F.mse_loss(net(x[0][idx], x[1][idx]), y[idx]).backward()
        opt.step()
    p = net.op_weights().detach()
    assert (p[:, OPS.index("fc_lrelu")] > 0.8).all(), p
    assert all(e.op == "fc_lrelu" for e in net.export().output)


def test_restricted_op_sets_never_derive_other_ops():
    torch.manual_seed(0)
    net = Supernet("generator", (3, 2), (4, 4), 5, ops=OP_SETS["no_bn"])
    with torch.no_grad():
        net.alpha.normal_(0, 3.0)
        net.beta.normal_(0, 3.0)
    w = net.op_weights()
    banned = [k for k, o in enumerate(OPS) if o not in OP_SETS["no_bn"]]
    assert torch.all(w[:, banned] == 0) and torch.allclose(w.sum(1), torch.ones(w.shape[0]))
    g = net.export()
    assert {e.op for n in g.nodes for e in n.inputs} <= set(OP_SETS["no_bn"])
    out = net.train()(torch.randn(7, 3), torch.randn(7, 2))
    assert out.shape == (7, 5) and math.isfinite(float(out.detach().sum()))


def test_margins_text_gives_both_medians_and_leaves_out_a_network_without_an_in_edge_margin():
    verdict = {
        "op_median": {"generator": 0.5, "critic": 0.25},
        "op_ratio": {"generator": 1000.0, "critic": 20.0},
        "edge_median": {"generator": 0.125, "critic": float("nan")},
    }
    assert margins_text(verdict) == (
        "median operation margins generator 0.5 (1000x initial), critic 0.25 (20x initial); "
        "median in-edge margins generator 0.125"
    )
    verdict["edge_median"]["generator"] = float("nan")
    assert margins_text(verdict) == "median operation margins generator 0.5 (1000x initial), critic 0.25 (20x initial)"
