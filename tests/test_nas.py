"""Search space (Eqs. 2-3), parameter separation in the search steps, derivation, genotypes."""

from __future__ import annotations

import json

import pytest
import torch
from synth import make_arrays, write_xlsa17

from zeronas.config import Config
from zeronas.data import load_dataset
from zeronas.engine import SearchSpace, Session, search_iteration, split_halves
from zeronas.engine.search import gumbel_temperature, set_temperature
from zeronas.nas.genotype import Edge, Genotype, GenotypeError, NetGenotype, Node, fixed_genotype
from zeronas.nas.network import DiscreteNet
from zeronas.nas.ops import OPS, op_flags
from zeronas.nas.supernet import Supernet


def _hand_op(net: Supernet, i: int, j: int, k: int, f: torch.Tensor) -> torch.Tensor:
    """Operation k on edge i->j written out by hand (eval mode: BN uses running stats)."""
    w, b = net.edge_op_linear(i, j, k)
    h = f @ w.T + b
    drop, bn, leaky = op_flags(OPS[k])
    if bn:
        gamma, beta, mean, var = net.edge_op_bn(i, j, k)
        h = (h - mean) / torch.sqrt(var + 1e-5) * gamma + beta
    h = torch.where(h > 0, h, h * (0.2 if leaky else 0.0))
    return h  # dropout is the identity in eval mode


def test_mixed_edge_and_node_match_equations_2_and_3():
    torch.manual_seed(0)
    net = Supernet("generator", (2, 3), (4,), 3)
    with torch.no_grad():
        net.alpha.normal_(0, 1.0)
        net.beta.normal_(0, 1.0)
        for name, buf in net.named_buffers():
            if name.startswith("bn_mean"):
                buf.normal_(0, 0.1)
            if name.startswith("bn_var"):
                buf.uniform_(0.5, 2.0)
    net.eval()
    z, c = torch.randn(5, 2), torch.randn(5, 3)
    nodes = [z, c, torch.cat([z, c], 1)]
    edge_id = {e: n for n, e in enumerate(net.mixed_edges)}
    for j in (3, 4):  # intermediate node, then the output node
        b = torch.softmax(net.beta[j - 3, :j], 0)
        fj = 0
        for i in range(j):
            a = torch.softmax(net.alpha[edge_id[(i, j)]], 0)
            mixed = sum(a[k] * _hand_op(net, i, j, k, nodes[i]) for k in range(8))  # Eq. 2
            fj = fj + b[i] * mixed  # Eq. 3
        nodes.append(fj)
    torch.testing.assert_close(net(z, c), nodes[4], rtol=1e-5, atol=1e-6)


def test_critic_output_is_linear_in_its_in_edges():
    torch.manual_seed(0)
    net = Supernet("critic", (4, 2), (3, 3), 1)
    assert all(j != net.out_id for _, j in net.mixed_edges)
    net.eval()
    x, c = torch.randn(6, 4), torch.randn(6, 2)
    out = net(x, c)
    # Large scores are passed through unclipped: scaling the output weights scales the score.
    with torch.no_grad():
        for fc in net.fc:
            fc.weight[-1:].mul_(1000.0)
            fc.bias[-1:].mul_(1000.0)
    assert torch.allclose(net(x, c), 1000.0 * out, rtol=1e-4, atol=1e-4)


def test_arch_and_weight_parameters_are_disjoint_and_complete():
    net = Supernet("generator", (3, 3), (4, 4), 5)
    arch = {id(p) for p in net.arch_parameters()}
    weights = {id(p) for p in net.weight_parameters()}
    assert arch.isdisjoint(weights)
    assert arch | weights == {id(p) for p in net.parameters()}
    assert "alpha" in net.state_dict() and "beta" in net.state_dict()


@pytest.fixture(scope="module")
def searcher(tmp_path_factory):
    folder = write_xlsa17(tmp_path_factory.mktemp("d") / "syn", make_arrays(per_class=30, feat_dim=12))
    cfg = Config()
    cfg.search.g_widths = (8, 8, 8, 8)
    cfg.search.d_widths = (8, 8, 8, 8)
    cfg.search.batch_size = 16
    cfg.clswgan.pretrain_cls_epochs = 2
    torch.manual_seed(0)
    return searching(cfg, load_dataset(folder).validation_task())


def searching(cfg: Config, task) -> Session:
    return Session(cfg, task, torch.device("cpu"), SearchSpace(), cfg.search, pools=split_halves)


def _snapshot(s: Session) -> dict[str, list[torch.Tensor]]:
    return {
        "G.arch": [p.detach().clone() for p in s.G.arch_parameters()],
        "G.weights": [p.detach().clone() for p in s.G.weight_parameters()],
        "D.arch": [p.detach().clone() for p in s.D.arch_parameters()],
        "D.weights": [p.detach().clone() for p in s.D.weight_parameters()],
    }


def _changed(before: dict, after: dict) -> set[str]:
    return {k for k in before if any(not torch.equal(a, b) for a, b in zip(before[k], after[k], strict=True))}


@pytest.mark.parametrize(
    "opt_key, group",
    [("a_d", "D.arch"), ("w_d", "D.weights"), ("a_g", "G.arch"), ("w_g", "G.weights")],
)
def test_each_search_step_changes_only_its_parameter_set(searcher, opt_key, group):
    s = searcher
    loss = s.fw.critic_loss if group.startswith("D") else s.fw.generator_loss
    before = _snapshot(s)
    s.step(opt_key, loss, "val" if opt_key.startswith("a") else "tr")
    assert _changed(before, _snapshot(s)) == {group}


def test_a_full_iteration_updates_all_four_sets(searcher):
    before = _snapshot(searcher)
    losses = search_iteration(searcher)
    assert torch.isfinite(losses).all()
    assert _changed(before, _snapshot(searcher)) == set(before)


def test_search_halves_are_disjoint_and_equal(searcher):
    tr, val = searcher.pools["tr"], searcher.pools["val"]
    assert tr.numel() == val.numel()
    assert not set(tr.tolist()) & set(val.tolist())


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


def test_fixed_genotype_builds_the_f_clswgan_networks():
    fix = fixed_genotype(4096)
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


# --------------------------------------------------------------------------- sampled (GDAS) mode
@pytest.mark.parametrize("role", ["generator", "critic"])
def test_sampled_forward_equals_the_mixture_when_alpha_is_one_hot(role):
    torch.manual_seed(0)
    net = Supernet(role, (5, 3), (4, 6, 4), 7 if role == "generator" else 1)
    with torch.no_grad():
        ops = torch.randint(len(OPS), (len(net.mixed_edges),))
        net.alpha.zero_().scatter_(1, ops.unsqueeze(1), 60.0)  # softmax is one-hot to float precision
        net.beta.normal_()
    net.eval()
    a, b = torch.randn(9, 5), torch.randn(9, 3)
    exact = net(a, b)
    net.tau = 1.0
    assert torch.allclose(net(a, b), exact, atol=1e-5)


def test_sampled_forward_draws_operations_and_trains_alpha():
    torch.manual_seed(0)
    net = Supernet("generator", (5, 3), (4, 6), 7)
    net.tau = 5.0
    a, b = torch.randn(9, 5), torch.randn(9, 3)
    outs = [net(a, b) for _ in range(3)]
    assert not torch.allclose(outs[0], outs[1])  # a new draw (and dropout) per pass
    net(a, b).pow(2).sum().backward()
    assert net.alpha.grad is not None and net.alpha.grad.abs().sum() > 0
    assert net.beta.grad is not None and torch.isfinite(net.beta.grad).all()


def test_gumbel_temperature_falls_linearly_over_the_epochs():
    cfg = Config()
    cfg.search.mode, cfg.search.epochs, cfg.search.tau_max, cfg.search.tau_min = "gdas", 5, 10.0, 0.1
    assert [gumbel_temperature(e, cfg.search) for e in (1, 3, 5)] == pytest.approx([10.0, 5.05, 0.1])
    cfg.search.mode = "exact"
    assert gumbel_temperature(1, cfg.search) is None


def test_gdas_search_anneals_the_temperature_and_updates_alpha(searcher):
    import copy

    cfg = copy.deepcopy(searcher.cfg)
    cfg.search.mode, cfg.search.epochs = "gdas", 5
    torch.manual_seed(0)
    s = searching(cfg, searcher.task)
    taus = []
    for epoch in (1, 3, 5):
        set_temperature(s, epoch)
        taus.append((s.G.tau, s.D.tau))
    assert taus == [pytest.approx((t, t)) for t in (10.0, 5.05, 0.1)]
    before = _snapshot(s)
    assert torch.isfinite(search_iteration(s)).all()
    assert _changed(before, _snapshot(s)) == set(before)


def test_unknown_search_mode_is_a_clear_error():
    from zeronas.errors import ZeroNASError

    with pytest.raises(ZeroNASError, match="unknown search mode 'darts2'"):
        Config().set("search.mode", "darts2")
