"""The framework interface and the loss terms of f-VAEGAN-D2, TF-VAEGAN and LisGAN."""

from __future__ import annotations

import math
from dataclasses import fields

import pytest
import torch

from zeronas.config import Config
from zeronas.engine import SearchSpace, Session, search_iteration, split_halves, train_epoch
from zeronas.engine.search import current_genotype, step_names
from zeronas.engine.train import stat_names
from zeronas.errors import ZeroNASError
from zeronas.frameworks import REGISTRY, Framework, framework_class, framework_sections
from zeronas.frameworks.lisgan import Souls
from zeronas.frameworks.vaegan import vae_loss, weighted_l1
from zeronas.nas.genotype import fixed_genotype
from zeronas.nas.network import DiscreteNet
from zeronas.nas.supernet import Supernet

CPU = torch.device("cpu")


# --------------------------------------------------------------------------- loss terms, by hand
def test_vae_loss_is_squared_error_plus_kl_per_sample():
    x = torch.tensor([[0.0, 1.0], [1.0, 1.0]])
    recon = torch.tensor([[1.0, 1.0], [1.0, 3.0]])  # squared errors 1 and 4
    zero = torch.zeros(2, 3)
    assert vae_loss(recon, x, zero, zero).item() == pytest.approx(5 / 2)
    # KL(N(1, 1) || N(0, 1)) = 1/2 per dimension
    assert vae_loss(x, x, torch.ones(2, 3), zero).item() == pytest.approx(3 * 0.5)
    # KL(N(0, e) || N(0, 1)) = (e - 1 - 1) / 2 per dimension, for log variance 1
    assert vae_loss(x, x, zero, torch.ones(2, 3)).item() == pytest.approx(3 * (math.e - 2) / 2)


def test_weighted_l1_by_hand():
    pred, target = torch.tensor([[3.0, 4.0], [0.0, 0.0]]), torch.zeros(2, 2)
    # row 1: (27 + 64) / 5; row 2: no error
    assert weighted_l1(pred, target).item() == pytest.approx((27 + 64) / 5 / 2)


def test_soul_distance_takes_the_nearest_soul_of_each_samples_class():
    souls = Souls(2, 2, 2)
    souls.centres[:] = torch.tensor([[[0.0, 0.0], [10.0, 0.0]], [[0.0, 5.0], [0.0, 6.0]]])
    fake = torch.tensor([[9.0, 0.0], [0.0, 0.0]])
    # sample 0 (class 0): nearest soul (10, 0) at 1; sample 1 (class 1): nearest (0, 5) at 25
    assert souls.distance(fake, torch.tensor([0, 1])).item() == pytest.approx((1 + 25) / 2)


def test_soul_samples_are_the_cluster_centres_of_each_class():
    x = torch.tensor([[0.0], [0.2], [10.0], [10.2], [50.0], [50.2], [70.0], [70.2]])
    y = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    souls = Souls(2, 2, 1)
    souls.fit(x, y)
    assert sorted(souls.centres[0, :, 0].tolist()) == pytest.approx([0.1, 10.1])
    assert sorted(souls.centres[1, :, 0].tolist()) == pytest.approx([50.1, 70.1])


# --------------------------------------------------------------------------- feedback into the DAG
def test_feedback_is_added_to_the_hidden_layer_of_the_fix_generator():
    torch.manual_seed(0)
    G = DiscreteNet(fixed_genotype(5).generator, (3, 2), 4).eval()
    assert G.hidden_width == 5
    z, c, fb = torch.randn(7, 3), torch.randn(7, 2), torch.randn(7, 5)
    hidden_op, out_op = G.edges["2_3"], G.edges["3_out"]
    expected = out_op(hidden_op(torch.cat([z, c], 1)) + fb)
    assert torch.allclose(G(z, c, fb), expected)
    assert torch.allclose(G(z, c, torch.zeros(7, 5)), G(z, c))


def test_supernet_feedback_reaches_every_intermediate_node():
    torch.manual_seed(0)
    net = Supernet("generator", (3, 2), (4, 6), 5).eval()
    assert net.hidden_width == 10
    z, c = torch.randn(3, 3), torch.randn(3, 2)
    assert torch.allclose(net(z, c, torch.zeros(3, 10)), net(z, c))
    for lo, hi in ((0, 4), (4, 10)):  # a change in either node's slice changes the output
        fb = torch.zeros(3, 10)
        fb[:, lo:hi] = 1.0
        assert not torch.allclose(net(z, c, fb), net(z, c))


# --------------------------------------------------------------------------- the interface
@pytest.fixture
def task(synthetic_task):
    return synthetic_task


def tiny_config(framework: str) -> Config:
    cfg = Config()
    cfg.model.framework = framework
    cfg.model.fix_hidden = 8
    cfg.train.batch_size = cfg.search.batch_size = 16
    cfg.search.g_widths = cfg.search.d_widths = (8, 8)
    for section in framework_sections(framework):  # its networks small, its pre-training short
        part = getattr(cfg, section)
        for f in fields(part):
            if f.name.endswith("_hidden"):
                setattr(part, f.name, 8)
            elif f.name.endswith("_epochs"):
                setattr(part, f.name, 2)
    return cfg


def _values(params) -> list[torch.Tensor]:
    return [p.detach().clone() for p in params]


def _changed(before: list[torch.Tensor], params) -> bool:
    return any(not torch.equal(a, b) for a, b in zip(before, params, strict=True))


def training(task, cfg: Config) -> Session:
    return Session(cfg, task, CPU, fixed_genotype(8), cfg.train)


def searching(task, cfg: Config) -> Session:
    return Session(cfg, task, CPU, SearchSpace(), cfg.search, pools=split_halves)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_each_step_updates_only_its_side(task, name):
    torch.manual_seed(0)
    session = training(task, tiny_config(name))
    fw = session.fw
    g_side, d_side = session.params["w_g"], session.params.get("w_d", [])
    g0, d0 = _values(g_side), _values(d_side)
    if fw.uses_critic:
        session.step("w_d", fw.critic_loss, "train")
        assert _changed(d0, d_side) and not _changed(g0, g_side)
    d1 = _values(d_side)
    session.step("w_g", fw.generator_loss, "train")
    assert _changed(g0, g_side) and not _changed(d1, d_side)


@pytest.mark.parametrize(
    ("name", "extras"),
    [
        ("clswgan", {"classifier"}),
        ("fvaegan", {"encoder"}),
        ("tfvaegan", {"encoder", "decoder", "feedback"}),
        ("lisgan", {"classifier", "souls"}),
    ],
)
def test_extras_of_the_first_four_frameworks(task, name, extras):
    # the other frameworks pin theirs in their own test files
    fw = training(task, tiny_config(name)).fw
    assert {n for n, _ in fw.extras.named_children()} == extras


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_framework_trains_and_searches(task, name):
    cfg = tiny_config(name)
    kind = framework_class(name)
    torch.manual_seed(0)
    row = train_epoch(training(task, cfg))
    assert set(row) == set(stat_names(kind)) and all(math.isfinite(v) for v in row.values())
    assert list(row)[-len(kind.generator_stats) :] == list(kind.generator_stats)
    searcher = searching(task, cfg)
    losses = search_iteration(searcher)
    assert losses.shape == (len(step_names(kind)),) and torch.isfinite(losses).all()
    x, _ = searcher.fw.synthesize(task.class_vectors, task.unseen_classes, 4)
    assert x.shape == (4 * len(task.unseen_classes), task.feature_dim) and torch.isfinite(x).all()


def test_tfvaegan_classifier_sees_the_feature_and_its_semantic_decoding(task):
    torch.manual_seed(0)
    fw = training(task, tiny_config("tfvaegan")).fw
    x = task.test_unseen_x[:5]
    z = fw.classifier_input(x)
    assert z.shape == (5, task.feature_dim + task.attr_dim + 8)
    assert torch.equal(z[:, : task.feature_dim], x)
    assert torch.allclose(z[:, task.feature_dim : task.feature_dim + task.attr_dim].norm(dim=1), torch.ones(5))


def test_tfvaegan_without_an_intermediate_node_has_no_feedback(task):
    from zeronas.nas.genotype import Edge, Genotype, NetGenotype

    g = NetGenotype("generator", (), (Edge(0, "fc_relu"), Edge(1, "fc_lrelu")))
    geno = Genotype(g, fixed_genotype(8).critic)
    cfg = tiny_config("tfvaegan")
    session = Session(cfg, task, CPU, geno, cfg.train)
    assert "feedback" not in session.fw.extras
    assert math.isfinite(train_epoch(session)["generator_loss"])


class _Regression(Framework):
    """A framework without a critic (the shape of ZSL-ABP): G regresses real features."""

    name = "toy_regression"
    title = "toy"
    uses_critic = False
    generator_stats = ("mse",)

    def generator_loss(self, x, c, y):
        mse = (self.G(self.noise(x.shape[0]), c) - x).pow(2).sum(1).mean()
        return mse, {"mse": mse.detach()}


def test_a_framework_without_critic_trains_and_searches_g_only(task, monkeypatch):
    monkeypatch.setitem(REGISTRY, "toy_regression", _Regression)
    cfg = tiny_config("clswgan")
    cfg.model.framework = "toy_regression"
    cfg.train.lr = 1e-2
    torch.manual_seed(0)
    session = training(task, cfg)
    assert session.D is None and stat_names(_Regression) == ("generator_loss", "mse")
    first = train_epoch(session)["mse"]
    for _ in range(10):
        last = train_epoch(session)["mse"]
    assert last < first
    searcher = searching(task, cfg)
    assert searcher.D is None and step_names(_Regression) == ("generator_arch", "generator_weights", "mse")
    alpha = searcher.G.alpha.detach().clone()
    assert torch.isfinite(search_iteration(searcher)).all()
    assert not torch.equal(alpha, searcher.G.alpha)
    assert current_genotype(searcher).critic == fixed_genotype(8).critic  # nothing searched for the absent critic


def test_the_engine_tells_the_framework_the_rows_of_each_batch(task, monkeypatch):
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    class _Rows(_Regression):
        def generator_loss(self, x, c, y):
            assert self.rows is not None
            seen.append((self.rows.clone(), x))
            return super().generator_loss(x, c, y)

    monkeypatch.setitem(REGISTRY, "toy_regression", _Rows)
    cfg = tiny_config("clswgan")
    cfg.model.framework = "toy_regression"
    torch.manual_seed(0)
    session = searching(task, cfg)
    assert session.fw.rows is None
    search_iteration(session)  # an architecture step on D_val, a weight step on D_tr
    (val_rows, val_x), (tr_rows, tr_x) = seen
    assert torch.equal(task.train_x[val_rows], val_x) and torch.equal(task.train_x[tr_rows], tr_x)
    assert torch.isin(val_rows, session.pools["val"]).all() and torch.isin(tr_rows, session.pools["tr"]).all()


def test_unknown_framework_is_a_clear_error():
    with pytest.raises(ZeroNASError, match="unknown framework 'nope'"):
        Config().set("model.framework", "nope")
    with pytest.raises(ZeroNASError, match="unknown framework"):
        framework_class("nope")


def test_fvaegan_generator_loss_is_vae_plus_the_weighted_wgan_term(task):
    torch.manual_seed(0)
    cfg = tiny_config("fvaegan")
    fw = training(task, cfg).fw  # FIX nets: no dropout, so no other draws
    x, c, y = task.train_x[:6], task.class_vectors[task.train_y[:6]], task.train_y[:6]
    torch.manual_seed(1)
    loss, stats = fw.generator_loss(x, c, y)
    torch.manual_seed(1)
    mean, log_var = fw.extras["encoder"](x, c)
    recon = fw.G(mean + torch.randn_like(mean) * torch.exp(0.5 * log_var), c)
    sse = (recon - x).pow(2).sum(1)
    kl = 0.5 * (mean.pow(2) + log_var.exp() - 1 - log_var).sum(1)
    expected_vae = (sse + kl).mean()
    expected = expected_vae - cfg.vaegan.gan_weight_g * fw.D(recon, c).mean()
    assert torch.allclose(stats["vae_loss"], expected_vae) and torch.allclose(loss, expected)


def test_lisgan_generator_loss_adds_both_soul_terms(task):
    torch.manual_seed(0)
    cfg = tiny_config("lisgan")
    cfg.lisgan.sample_soul_weight, cfg.lisgan.class_soul_weight, cfg.lisgan.soul_syn_num = 0.5, 0.25, 3
    fw = training(task, cfg).fw
    x, c, y = task.train_x[:6], task.class_vectors[task.train_y[:6]], task.train_y[:6]
    torch.manual_seed(1)
    loss, stats = fw.generator_loss(x, c, y)
    torch.manual_seed(1)
    fake = fw.G(torch.randn(6, fw.noise_dim), c)
    centres, y_local = fw.extras["souls"].centres, fw.labels.to_local(y)
    sample_term = min_sq_dist(fake, centres[y_local]).mean()
    seen = task.seen_classes
    per_class = fw.G(torch.randn(len(seen) * 3, fw.noise_dim), task.class_vectors[seen.repeat_interleave(3)])
    class_term = min_sq_dist(per_class.view(len(seen), 3, -1).mean(1), centres).mean()
    ce = torch.nn.functional.cross_entropy(fw.classifier(fake), y_local)
    expected = -fw.D(fake, c).mean() + cfg.train.cls_weight * ce + 0.5 * sample_term + 0.25 * class_term
    assert torch.allclose(stats["soul_loss"], 0.5 * sample_term + 0.25 * class_term)
    assert torch.allclose(loss, expected)


def min_sq_dist(points: torch.Tensor, souls: torch.Tensor) -> torch.Tensor:
    """Per point, the squared distance to the nearest of its own souls (written with a loop)."""
    return torch.stack([min(((p - s) ** 2).sum() for s in ss) for p, ss in zip(points, souls, strict=True)])
