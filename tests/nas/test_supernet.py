"""The search space (Eqs. 2-3): the fused supernet's mixed edges and nodes, the linear critic
output, the parameter split, and the sampled (GDAS) forward."""

from __future__ import annotations

import math

import pytest
import torch

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


@pytest.mark.parametrize("gates", ["softmax", "sigmoid"])
def test_mixed_edge_and_node_match_equations_2_and_3(gates):
    """Eqs. 2-3, and with ``edge_gates = "sigmoid"`` an independent gate per in-edge (FairDARTS);
    ``node_values`` returns every node of the same pass."""
    torch.manual_seed(0)
    net = Supernet("generator", (2, 3), (4,), 3, edge_gates=gates)
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
        b = torch.softmax(net.beta[j - 3, :j], 0) if gates == "softmax" else torch.sigmoid(net.beta[j - 3, :j])
        fj = 0
        for i in range(j):
            a = torch.softmax(net.alpha[edge_id[(i, j)]], 0)
            mixed = sum(a[k] * _hand_op(net, i, j, k, nodes[i]) for k in range(8))  # Eq. 2
            fj = fj + b[i] * mixed  # Eq. 3
        nodes.append(fj)
    torch.testing.assert_close(net(z, c), nodes[4], rtol=1e-5, atol=1e-6)
    for got, want in zip(net.node_values(z, c), nodes, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_unit_op_scale_mixes_each_candidate_at_its_root_mean_square():
    """``op_scale = "unit"`` makes the mix blind to an FC layer's scale, in the mixed and the
    sampled forward (train mode, so that dropout and batch statistics run): multiplying one
    operation's weights and bias by 50 changes nothing (the activations are positively
    homogeneous), while the raw mix moves. In eval mode it is Eq. 2 with each operation's output
    divided by its root mean square over the batch and the edge's columns, written by hand."""
    for mode in ("exact", "gdas"):
        torch.manual_seed(0)
        nets = {s: Supernet("generator", (2, 3), (4, 6), 5, op_scale=s) for s in ("raw", "unit")}
        nets["unit"].load_state_dict(nets["raw"].state_dict())
        z, c = torch.randn(16, 2), torch.randn(16, 3)
        outs = {}
        for scale, net in nets.items():
            net.train()
            if mode == "gdas":
                net.tau = 1.0
            with torch.no_grad():
                net.alpha.normal_(0, 1.0)
                net.alpha[net.mixed_edges.index((1, 3)), 5] = 30.0  # gdas draws the rescaled operation
            first = []
            for factor in (1.0, 50.0):
                with torch.no_grad():
                    for k in (0, 5):  # fc_relu, fc_lrelu_drop on edge 1 -> 3
                        w, b = net.edge_op_linear(1, 3, k)
                        w.mul_(factor), b.mul_(factor)
                torch.manual_seed(1)  # the same dropout masks and Gumbel draws
                first.append(net(z, c))
            outs[scale] = first
        torch.testing.assert_close(outs["unit"][0], outs["unit"][1], rtol=1e-4, atol=1e-5)
        assert not torch.allclose(outs["raw"][0], outs["raw"][1], rtol=1e-2, atol=1e-3)

    torch.manual_seed(0)
    net = Supernet("generator", (2, 3), (4,), 3, op_scale="unit")
    with torch.no_grad():
        net.alpha.normal_(0, 1.0)
    net.eval()
    z, c = torch.randn(7, 2), torch.randn(7, 3)
    nodes = [z, c, torch.cat([z, c], 1)]
    edge_id = {e: n for n, e in enumerate(net.mixed_edges)}
    for j in (3, 4):
        b = torch.softmax(net.beta[j - 3, :j], 0)
        fj = 0
        for i in range(j):
            a = torch.softmax(net.alpha[edge_id[(i, j)]], 0)
            ops = [_hand_op(net, i, j, k, nodes[i]) for k in range(8)]
            fj = fj + b[i] * sum(a[k] * h / h.pow(2).mean().sqrt() for k, h in enumerate(ops))
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


def test_discretisation_figures_by_hand():
    net = Supernet("generator", (3, 3), (4,), 5, ops=("fc_relu", "fc_lrelu"))  # nodes 3 and out (4)
    with torch.no_grad():
        net.alpha.zero_()
        net.alpha[0, 0] = math.log(3.0)  # edge 0 -> 3: softmax (3/4, 1/4) over its two candidates
        net.beta.fill_(-1e9)
        net.beta[0, :3] = torch.log(torch.tensor([0.5, 0.3, 0.2]))  # node 3 reads 0, 1, 2
        net.beta[1, :4] = 0.0  # the output reads 0-3 evenly
    two, skewed = math.log(2), -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    n_edges = len(net.mixed_edges)
    assert net.op_entropy().item() == pytest.approx((skewed + (n_edges - 1) * two) / n_edges)
    # -log of the kept share: node 3 keeps 0.8 of 1, the output 0.5; with keep 3 only the output counts
    assert net.edge_spill(2).item() == pytest.approx((-math.log(0.8) - math.log(0.5)) / 2)
    assert net.edge_spill(3).item() == pytest.approx(-math.log(0.75))
    assert net.edge_spill(4).item() == 0.0
    with pytest.raises(ValueError, match="softmax edge gates"):
        Supernet("generator", (3, 3), (4,), 5, edge_gates="sigmoid").edge_spill(2)


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
    """Protects the GDAS draw: without dropout, two passes differ only by their Gumbel draws
    (fails when the sampled forward ignores ``tau`` and returns the mixture)."""
    torch.manual_seed(0)
    net = Supernet("generator", (5, 3), (4, 6), 7, dropout=0.0)
    a, b = torch.randn(9, 5), torch.randn(9, 3)
    assert torch.equal(net(a, b), net(a, b))  # the mixture is deterministic
    net.tau = 5.0
    outs = [net(a, b) for _ in range(3)]
    assert not torch.allclose(outs[0], outs[1])  # a new draw per pass
    net(a, b).pow(2).sum().backward()
    assert net.alpha.grad is not None and net.alpha.grad.abs().sum() > 0
    assert net.beta.grad is not None and torch.isfinite(net.beta.grad).all()


@pytest.mark.parametrize("tau", [0.1, 5.0])
def test_sampled_operations_are_drawn_with_probability_softmax_alpha_whatever_tau(tau, monkeypatch):
    """Gumbel-max: the drawn operation is the argmax of ``alpha + g``, so it follows
    softmax(alpha) at every temperature; tau shapes only the straight-through gradient.
    Protects the docs' reading of a sampled search: near-equal alpha means near-equal draws."""
    torch.manual_seed(0)
    net = Supernet("generator", (5, 3), (4,), 7, dropout=0.0)
    with torch.no_grad():
        net.alpha.fill_(-30.0)
        net.alpha[:, 0], net.alpha[:, 1] = math.log(0.8), math.log(0.2)
    drawn: list[int] = []
    real = net.edge_op
    monkeypatch.setattr(net, "edge_op", lambda x, i, j, op, **k: drawn.append(op) or real(x, i, j, op, **k))
    net.tau = tau
    a, b = torch.randn(2, 5), torch.randn(2, 3)
    for _ in range(400):
        net(a, b)
    assert set(drawn) == {0, 1}
    assert drawn.count(0) / len(drawn) == pytest.approx(0.8, abs=0.03)  # 400 passes x 7 edges: std 0.008


def test_an_output_node_without_input_edges_reads_hidden_nodes_only():
    """``search.g_out = "hidden"``: no mixed edge and no FC layer from an input to the
    output, zero edge weight on the inputs, the output unchanged by the inputs' own
    path, and the derived network's output fed by intermediate nodes whatever beta says."""
    torch.manual_seed(0)
    full = Supernet("generator", (3, 2), (4, 4), 5)
    net = Supernet("generator", (3, 2), (4, 4), 5, out_from_inputs=False)
    assert [e for e in full.mixed_edges if e not in net.mixed_edges] == [(0, 5), (1, 5), (2, 5)]
    assert sum(p.numel() for p in net.parameters()) < sum(p.numel() for p in full.parameters())
    with torch.no_grad():
        net.beta.fill_(0.0)
        net.beta[-1, :3] = 50.0  # beta would pick the inputs, if they had edges
    assert net.edge_weights()[-1, :3].sum().item() == 0.0
    assert net.edge_weights()[-1, 3:5].sum().item() == pytest.approx(1.0)
    assert {e.src for e in net.export().output} == {3, 4}
    out = net(torch.randn(6, 3), torch.randn(6, 2))
    assert out.shape == (6, 5)
    out.sum().backward()
    assert net.beta.grad is not None and net.beta.grad[-1, :3].abs().sum().item() == 0.0
    with pytest.raises(ValueError, match="needs intermediate nodes"):
        Supernet("generator", (3, 2), (), 5, out_from_inputs=False)


def test_a_critic_output_without_input_edges_cannot_score_x_linearly():
    """``search.d_out = "hidden"``: the critic's output node (plain linear edges, no alpha)
    loses its FC layers from x, c and [x, c], with no edge weight or gradient on them, and the
    derived critic's score reads hidden nodes only."""
    torch.manual_seed(0)
    full = Supernet("critic", (3, 2), (4, 4), 1)
    net = Supernet("critic", (3, 2), (4, 4), 1, out_from_inputs=False)
    assert full.mixed_edges == net.mixed_edges  # the output's edges are linear in both: no alpha row
    dropped = sum(d + 1 for d in (3, 2, 5))  # one FC to the score per input node
    assert sum(p.numel() for p in net.parameters()) == sum(p.numel() for p in full.parameters()) - dropped
    with torch.no_grad():
        net.beta.fill_(0.0)
        net.beta[-1, :3] = 50.0
    assert net.edge_weights()[-1, :3].sum().item() == 0.0
    assert {e.src for e in net.export().output} == {3, 4}
    assert all(e.op == "linear" for e in net.export().output)
    net(torch.randn(6, 3), torch.randn(6, 2)).sum().backward()
    assert net.beta.grad is not None and net.beta.grad[-1, :3].abs().sum().item() == 0.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"genotype_widths": (4,)}, "genotype_widths has 1 nodes, widths 2"),
        ({"edge_gates": "tanh"}, "edge_gates is softmax or sigmoid"),
        ({"weight_init": "xavier"}, "initialisation is normal, kaiming or torch"),
        ({"op_scale": "bn"}, "op_scale is raw or unit"),
    ],
)
def test_a_supernet_refuses_settings_it_cannot_honour(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Supernet("generator", (2, 3), (4, 4), 3, **kwargs)
