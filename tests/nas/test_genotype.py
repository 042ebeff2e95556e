"""Derivation of a discrete network from alpha/beta (SPEC §6), the genotype file, and the
discrete networks built from genotypes (found or FIX)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from zeronas.errors import ZeroNASError
from zeronas.nas.genotype import (
    Edge,
    Genotype,
    GenotypeError,
    NetGenotype,
    Node,
    derive,
    fixed_genotype,
    random_genotype,
)
from zeronas.nas.network import DiscreteNet
from zeronas.nas.ops import OPS
from zeronas.nas.supernet import Supernet


def test_derivation_follows_constructed_alpha_and_beta():
    net = Supernet("generator", (2, 2), (4, 4, 4, 4), 6)
    big = 5.0
    # node -> (two chosen sources, op index per source)
    plan = {3: {2: 1, 0: 4}, 4: {3: 0, 1: 2}, 5: {2: 7, 0: 3}, 6: {4: 5, 5: 6}, 7: {6: 0, 3: 1}}
    edge_id = {e: n for n, e in enumerate(net.mixed_edges)}
    with torch.no_grad():
        net.alpha.zero_()
        net.beta.zero_()
        for j, chosen in plan.items():
            for i, k in chosen.items():
                net.beta[j - 3, i] = big + i * 0.01  # ranking by beta alone
                net.alpha[edge_id[(i, j)], k] = big
            # a strong op on a weak edge must not pull the edge in
            weak = next(i for i in range(j) if i not in chosen)
            net.alpha[edge_id[(weak, j)], 2] = 50.0
    geno = net.export()
    got = {n.id: {e.src: e.op for e in n.inputs} for n in geno.nodes}
    got[7] = {e.src: e.op for e in geno.output}
    expected = {j: {i: OPS[k] for i, k in ch.items()} for j, ch in plan.items()}
    assert got == expected


def hand_weights() -> tuple[dict, dict]:
    """softmax(alpha) and softmax(beta) of a generator with nodes 3, 4 and output 5, written
    out with ties: node 3's 2nd place (sources 1 and 2), node 4's sources 0-2, the output's
    top pair, and edge 0->3's best operation (ops 2 and 5)."""
    edges = {3: [0.4, 0.3, 0.3], 4: [0.1, 0.1, 0.1, 0.7], 5: [0.0, 0.0, 0.0, 0.5, 0.5]}
    ops = {(i, j): np.full(len(OPS), 0.1) for j in edges for i in range(j)}
    ops[(0, 3)][[2, 5]] = 0.3
    ops[(1, 3)][6] = 0.3
    ops[(3, 4)][4] = 0.3
    return ops, {j: np.array(w) for j, w in edges.items()}


@pytest.mark.parametrize(
    ("keep", "nodes", "output"),
    [
        (1, {3: ((0, 2),)}, ((3, 0),)),
        (2, {3: ((0, 2), (1, 6)), 4: ((0, 0), (3, 4))}, ((3, 0), (4, 0))),
        (3, {3: ((0, 2), (1, 6), (2, 0)), 4: ((0, 0), (1, 0), (3, 4))}, ((0, 0), (3, 0), (4, 0))),
    ],
)
def test_derivation_by_hand_with_ties_and_any_number_of_kept_edges(keep, nodes, output):
    """Protects ``derive`` (SPEC §6): the ``keep`` strongest in-edges per node, the earliest
    source on a tie, each with its strongest operation (the first on a tie), dead nodes
    dropped (``keep = 1``: node 4 feeds nothing)."""
    ops, edges = hand_weights()
    got = derive("generator", (4, 4), ops, edges, keep)

    def edge_list(pairs):
        return tuple(Edge(i, OPS[k]) for i, k in pairs)

    want = NetGenotype("generator", tuple(Node(j, 4, edge_list(p)) for j, p in nodes.items()), edge_list(output))
    assert got == want
    if keep == 2:  # the default: two in-edges per node (SPEC §6)
        assert derive("generator", (4, 4), ops, edges) == want


def test_a_node_that_feeds_only_a_live_node_is_live():
    """Liveness runs back through every node: output <- 4 <- 3, with 3 not an output source."""
    ops = {(i, j): np.eye(len(OPS))[j - 3] for j in (3, 4, 5) for i in range(j)}
    edges = {3: np.array([1.0, 0, 0]), 4: np.array([0, 0, 0, 1.0]), 5: np.array([0, 0, 0, 0, 1.0])}
    got = derive("generator", (4, 8), ops, edges, keep=1)
    assert got == NetGenotype(
        "generator", (Node(3, 4, (Edge(0, OPS[0]),)), Node(4, 8, (Edge(3, OPS[1]),))), (Edge(4, OPS[2]),)
    )


def test_dead_nodes_are_dropped():
    net = Supernet("generator", (2, 2), (4, 4, 4, 4), 6)
    with torch.no_grad():
        net.beta.zero_()
        net.beta[4, 2] = 5.0  # output <- input [z,c]
        net.beta[4, 3] = 4.0  # output <- node 3
        net.beta[0, 0] = 5.0  # node 3 <- z, c
        net.beta[0, 1] = 4.0
    geno = net.export()
    assert [n.id for n in geno.nodes] == [3]
    assert sorted(e.src for e in geno.output) == [2, 3]
    model = DiscreteNet(geno, (2, 2), 6)
    assert sorted(model.edges.keys()) == ["0_3", "1_3", "2_out", "3_out"]
    assert model(torch.randn(4, 2), torch.randn(4, 2)).shape == (4, 6)


def test_critic_derivation_uses_linear_output_edges():
    geno = Supernet("critic", (6, 2), (4, 4, 4, 4), 1).export()
    assert {e.op for e in geno.output} == {"linear"}
    assert len(geno.output) == 2


def test_genotype_round_trip(tmp_path):
    g = Genotype(
        Supernet("generator", (2, 2), (4, 8, 4, 8), 6).export(), Supernet("critic", (6, 2), (8, 4, 8, 4), 1).export()
    )
    p = tmp_path / "genotype.json"
    g.save(p)
    assert Genotype.load(p) == g
    assert Genotype.from_dict(json.loads(p.read_text())) == g
    assert fixed_genotype(32) == Genotype.from_dict(fixed_genotype(32).to_dict())


def _bad(mutate) -> dict:
    d = fixed_genotype(16).to_dict()
    mutate(d)
    return d


@pytest.mark.parametrize(
    "d, message",
    [
        (_bad(lambda d: d.update(format="other")), "format"),
        (_bad(lambda d: d.update(version=99)), "version"),
        (_bad(lambda d: d.pop("critic")), "critic"),
        (_bad(lambda d: d["generator"]["nodes"][0]["in"][0].update(op="conv3x3")), "conv3x3"),
        (_bad(lambda d: d["generator"]["nodes"][0]["in"][0].update(**{"from": 5})), "not an input or an earlier node"),
        (_bad(lambda d: d["generator"]["output"].update({"in": [{"from": 3, "op": "linear"}]})), "linear"),
        (_bad(lambda d: d["critic"]["output"].update({"in": [{"from": 3, "op": "fc_relu"}]})), "fc_relu"),
        (_bad(lambda d: d["generator"]["nodes"][0].update(width=-3)), "width"),
        (_bad(lambda d: d["generator"]["nodes"][0].update(id=1)), "input id"),
        (_bad(lambda d: d["generator"]["output"].update({"in": []})), "non-empty"),
    ],
)
def test_bad_genotypes_are_rejected(d, message):
    with pytest.raises(GenotypeError, match=message):
        Genotype.from_dict(d)


def test_bad_genotype_files_name_the_file(tmp_path):
    p = tmp_path / "g.json"
    p.write_text("{not json")
    with pytest.raises(GenotypeError, match=r"g\.json: not valid JSON"):
        Genotype.load(p)
    with pytest.raises(GenotypeError, match="file not found"):
        Genotype.load(tmp_path / "missing.json")
    p.write_text(json.dumps({"format": "other"}))
    message = f"{p}: not a genotype: 'format' must be 'zeronas-genotype'"
    with pytest.raises(GenotypeError, match="^" + re.escape(message) + "$"):
        Genotype.load(p)


def test_fixed_genotype_builds_the_f_clswgan_networks():
    fix = fixed_genotype(4096)
    assert fixed_genotype() == fix  # the f-CLSWGAN width by default
    g = DiscreteNet(fix.generator, (85, 85), 2048)
    d = DiscreteNet(fix.critic, (2048, 85), 1)
    lin = [m for m in g.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in lin] == [(170, 4096), (4096, 2048)]
    assert isinstance(list(g.edges["3_out"])[-1], torch.nn.ReLU)
    assert isinstance(d.edges["3_out"], torch.nn.Linear)
    out = d(torch.randn(3, 2048), torch.randn(3, 85))
    assert out.shape == (3, 1)


def test_discrete_net_sums_its_kept_edges():
    geno = NetGenotype(
        "generator", (Node(3, 4, (Edge(0, "fc_relu"), Edge(1, "fc_lrelu"))),), (Edge(3, "fc_relu"), Edge(2, "fc_relu"))
    )
    net = DiscreteNet(geno, (2, 3), 5)
    z, c = torch.randn(4, 2), torch.randn(4, 3)
    e = net.edges
    f3 = e["0_3"](z) + e["1_3"](c)
    expected = e["3_out"](f3) + e["2_out"](torch.cat([z, c], 1))
    torch.testing.assert_close(net(z, c), expected)
    assert (expected >= 0).all()  # the generator's output edges end in ReLU


def _nodes_at(*ids: int) -> list[dict]:
    return [{"id": i, "width": 8, "in": [{"from": 2, "op": "fc_relu"}]} for i in ids]


def _node0(d: dict) -> dict:
    return d["generator"]["nodes"][0]


def _second_node(d: dict, node_id: int) -> None:
    d["generator"]["nodes"].append({"id": node_id, "width": 8, "in": [{"from": 2, "op": "fc_relu"}]})


@pytest.mark.parametrize(
    "d, message",
    [
        (_bad(lambda d: d.update(version=99)), "unsupported genotype version 99 (this zeronas reads 1)"),
        (_bad(lambda d: d.update(generator=[])), "'generator' must be an object"),
        (_bad(lambda d: d["generator"].update(nodes={})), "'generator' needs a 'nodes' list and an 'output' object"),
        (_bad(lambda d: d["critic"].pop("output")), "'critic' needs a 'nodes' list and an 'output' object"),
        (_bad(lambda d: _node0(d).update(id="3")), "generator.nodes[0] needs integer 'id' and 'width'"),
        (_bad(lambda d: d["generator"]["nodes"][0].pop("width")), "generator.nodes[0] needs integer 'id' and 'width'"),
        (_bad(lambda d: d["generator"]["nodes"][0].update(width=0)), "generator.nodes[0]: width must be positive"),
        (_bad(lambda d: _node0(d).update(id=2)), "generator.nodes[0]: id 2 is an input id or repeated"),
        (_bad(lambda d: _second_node(d, 3)), "generator.nodes[1]: id 3 is an input id or repeated"),
        (
            _bad(lambda d: d["generator"].update(nodes=[*d["generator"]["nodes"], *_nodes_at(5, 4)])),
            "'generator' nodes must be listed in increasing id order",
        ),
        (_bad(lambda d: d["generator"]["nodes"][0].pop("in")), "generator.nodes[0] needs a non-empty 'in' list"),
        (
            _bad(lambda d: d["generator"]["nodes"][0].update({"in": ["x"]})),
            "generator.nodes[0]: each edge needs integer 'from' and string 'op'",
        ),
        (
            _bad(lambda d: d["generator"]["nodes"][0]["in"][0].update(op=3)),
            "generator.nodes[0]: each edge needs integer 'from' and string 'op'",
        ),
        (
            _bad(lambda d: d["critic"]["output"].update({"in": [{"from": 3, "op": "fc_relu"}]})),
            "critic.output: operation 'fc_relu' is not one of linear",
        ),
        (
            _bad(lambda d: _node0(d)["in"][0].update(op="conv3x3")),
            "generator.nodes[0]: operation 'conv3x3' is not one of " + ", ".join(OPS),
        ),
        (
            _bad(lambda d: d["generator"]["output"].update({"in": [{"from": 4, "op": "fc_relu"}]})),
            "generator.output: edge from node 4, which is not an input or an earlier node",
        ),
    ],
)
def test_bad_genotypes_get_the_exact_message(d, message):
    """The whole message, so that a changed condition or location is caught, not only a keyword."""
    with pytest.raises(GenotypeError, match="^" + re.escape(message) + "$"):
        Genotype.from_dict(d)


def test_the_first_free_id_and_width_one_are_accepted():
    d = fixed_genotype(16).to_dict()
    d["generator"]["nodes"][0]["width"] = 1
    assert Genotype.from_dict(d).generator.nodes[0] == Node(3, 1, (Edge(2, "fc_lrelu"),))


def test_genotype_dict_and_text_by_hand():
    """The file's layout (docs) and the one-line form logs and tables show."""
    g = NetGenotype(
        "generator",
        (Node(3, 4, (Edge(0, "fc_relu"), Edge(1, "fc_lrelu"))), Node(4, 8, (Edge(3, "fc_bn_relu"),))),
        (Edge(3, "fc_relu"), Edge(4, "fc_relu_drop")),
    )
    assert str(g) == "3:4<fc_relu~0|fc_lrelu~1> 4:8<fc_bn_relu~3> out<fc_relu~3|fc_relu_drop~4>"
    assert Genotype(g, fixed_genotype(16).critic).to_dict() == {
        "format": "zeronas-genotype",
        "version": 1,
        "generator": {
            "inputs": ["z", "c", "zc"],
            "nodes": [
                {"id": 3, "width": 4, "in": [{"from": 0, "op": "fc_relu"}, {"from": 1, "op": "fc_lrelu"}]},
                {"id": 4, "width": 8, "in": [{"from": 3, "op": "fc_bn_relu"}]},
            ],
            "output": {"in": [{"from": 3, "op": "fc_relu"}, {"from": 4, "op": "fc_relu_drop"}]},
        },
        "critic": {
            "inputs": ["x", "c", "xc"],
            "nodes": [{"id": 3, "width": 16, "in": [{"from": 2, "op": "fc_lrelu"}]}],
            "output": {"in": [{"from": 3, "op": "linear"}]},
        },
    }


# --------------------------------------------------------------------------- random genotypes


@pytest.mark.parametrize("ops", [("conv3x3",), ("fc_relu", "conv3x3"), ()])
def test_random_genotype_needs_known_operations(ops):
    message = "random_genotype: operations must be among " + ", ".join(OPS)
    with pytest.raises(ZeroNASError, match="^" + re.escape(message) + "$"):
        random_genotype("generator", (8,), np.random.default_rng(0), ops=ops)


@pytest.mark.parametrize("role", ["generator", "critic"])
@pytest.mark.parametrize("keep", [1, 2, 3])
def test_random_genotypes_are_valid_files_with_keep_edges_per_node(role, keep):
    """Each draw reads back from its own dict (a critic's output edges are linear, every
    other edge one of the operations), and every node keeps ``keep`` distinct in-edges."""
    for seed in range(10):
        g = random_genotype(role, (8, 8, 8), np.random.default_rng(seed), keep=keep)
        assert g.role == role
        assert NetGenotype.from_dict(role, g.to_dict()) == g
        for inputs in [n.inputs for n in g.nodes] + [g.output]:
            assert len({e.src for e in inputs}) == len(inputs) == keep


def test_a_random_pair_draw_is_the_same_in_every_version():
    """The random-search baseline's draw ``n`` (``nas.space.random_pair``: generator,
    then critic, from one ``default_rng(n)``) names the same pair in every version, so that
    recorded grid cells keep their meaning; draw 2 of these widths, recorded."""
    rng = np.random.default_rng(2)
    g, d = random_genotype("generator", (8, 16, 32), rng), random_genotype("critic", (32, 16, 8), rng)
    assert str(g) == (
        "3:8<fc_lrelu_drop~1|fc_relu~2> 4:16<fc_relu~2|fc_bn_lrelu_drop~3> out<fc_bn_relu_drop~3|fc_bn_relu~4>"
    )
    assert str(d) == "3:32<fc_relu_drop~1|fc_lrelu~2> 5:8<fc_relu~1|fc_bn_lrelu~3> out<linear~3|linear~5>"


def test_random_genotypes_without_output_input_edges_share_the_hidden_draws():
    """Draw ``n`` with the output reading hidden nodes only: no input feeds the output,
    and every node both draws keep is wired the same (one stream of random numbers)."""
    for seed in range(20):
        g = random_genotype("generator", (8, 8, 8, 8), np.random.default_rng(seed))
        h = random_genotype("generator", (8, 8, 8, 8), np.random.default_rng(seed), out_from_inputs=False)
        assert all(e.src >= 3 for e in h.output) and len(h.output) == 2
        shared = {n.id for n in g.nodes} & {n.id for n in h.nodes}
        assert [n for n in g.nodes if n.id in shared] == [n for n in h.nodes if n.id in shared]
        if all(e.src >= 3 for e in g.output):
            assert g == h


# --------------------------------------------------------------------------- the one-line text


def test_the_one_line_text_round_trips():
    """``str()`` of a network or a pair reads back to the same genotype (random draws of every
    role and keep, the paper's four pairs, FIX), and a pair's text is what the search log shows."""
    from zeronas.nas.paper import PAPER_ARCHS, paper_genotype

    pairs = [fixed_genotype(64), *(paper_genotype(name) for name in PAPER_ARCHS)]
    for seed in range(10):
        rng = np.random.default_rng(seed)
        pairs.append(
            Genotype(random_genotype("generator", (8, 16, 32, 64), rng), random_genotype("critic", (8, 8), rng))
        )
    for pair in pairs:
        assert Genotype.parse(str(pair)) == pair
        assert NetGenotype.parse("generator", str(pair.generator)) == pair.generator
        assert str(pair) == f"G {pair.generator} | D {pair.critic}"
    assert Genotype.parse("  G 3:4<fc_relu~0>  out<fc_relu~3>   |   D out<linear~2> ") == Genotype(
        NetGenotype("generator", (Node(3, 4, (Edge(0, "fc_relu"),)),), (Edge(3, "fc_relu"),)),
        NetGenotype("critic", (), (Edge(2, "linear"),)),
    )


@pytest.mark.parametrize(
    "text, message",
    [
        ("3:4<fc_relu~0> out<fc_relu~3>", "'3:4<fc_relu~0> out<fc_relu~3>': expected 'G <generator> | D <critic>'"),
        (
            "G 3:4<fc_relu~0> | D out<linear~2>",
            "generator '3:4<fc_relu~0>': no out<...> (expected ID:WIDTH<op~src|...> ... out<op~src|...>)",
        ),
        (
            "G 3:4<fc_relu-0> out<fc_relu~3> | D out<linear~2>",
            "generator '3:4<fc_relu-0> out<fc_relu~3>': cannot read '3:4<fc_relu-0>' "
            "(expected ID:WIDTH<op~src|...> ... out<op~src|...>)",
        ),
        (
            "G out<fc_relu~0> out<fc_relu~1> | D out<linear~2>",
            "generator 'out<fc_relu~0> out<fc_relu~1>': nothing may follow out<...> "
            "(expected ID:WIDTH<op~src|...> ... out<op~src|...>)",
        ),
        (
            "G out<fc_relu~4> | D out<linear~2>",
            "generator 'out<fc_relu~4>': generator.output: edge from node 4, which is not an input or an earlier node",
        ),
        ("G out<fc_relu~0> | D out<fc_relu~2>", "critic 'out<fc_relu~2>': critic.output: operation 'fc_relu' is not"),
    ],
)
def test_bad_genotype_text_gets_one_line_naming_it(text, message):
    with pytest.raises(GenotypeError, match="^" + re.escape(message)):
        Genotype.parse(text)


def test_arch_takes_a_pair_as_text(tmp_path, monkeypatch, capsys):
    """``--arch``/``zeronas draw`` take the text the search log prints; bad text is one line, exit 2."""
    from tests.cli import run_main
    from zeronas.nas.arch import load_arch
    from zeronas.nas.paper import paper_genotype

    text = str(paper_genotype("cub"))
    assert load_arch(text, 16) == (paper_genotype("cub"), "text")
    out = tmp_path / "cub.png"
    code, _, err = run_main(monkeypatch, capsys, "draw", text, "-o", str(out))
    assert code == 0 and out.stat().st_size > 0, err
    code, _, err = run_main(monkeypatch, capsys, "draw", "G out<fc_relu~4> | D out<linear~2>")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "edge from node 4" in err, err
    # a pair's text with a mistyped prefix is named as text, not reported as a missing file
    code, _, err = run_main(monkeypatch, capsys, "draw", "G: 3:64<fc_relu~2> out<fc_relu~3>")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "not a pair's text" in err, err
