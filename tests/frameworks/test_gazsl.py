"""GAZSL: the visual pivots, the auxiliary classifier, G's weight regularisers and the text FC.

The by-hand cases use stand-ins whose outputs are written down: a linear critic
``D(x, c) = x . (2, -1)`` (gradient penalty ``(sqrt 5 - 1)^2`` everywhere), a generator
``G(z, c) = c`` made of one identity FC layer, and a linear auxiliary classifier.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from zeronas.config import Config
from zeronas.data import ZSLTask
from zeronas.engine import SearchSpace, Session, search_iteration, split_halves, train_epoch
from zeronas.frameworks import REGISTRY
from zeronas.frameworks.gazsl import GAZSL, Pivots, l21_columns, squared_fc_weights, unique_rows
from zeronas.nas.genotype import fixed_genotype

CPU = torch.device("cpu")


class LinearCritic(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor([2.0, -1.0]))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return (x @ self.w).unsqueeze(1)


class IdentityG(nn.Module):
    """``G(z, c) = c`` through one FC layer with identity weight (squared weights: 2)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)
        with torch.no_grad():
            self.fc.weight.copy_(torch.eye(2))
            self.fc.bias.zero_()

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.fc(c)


class NoisyG(IdentityG):
    """``G(z, c) = c + z``."""

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.fc(c) + z


def hand_task() -> ZSLTask:
    # classes 0..5: seen 3 (c = e1) and 5 (c = e2), unseen 1
    cv = torch.tensor([[0.6, 0.8], [0.8, 0.6], [0.6, 0.8], [1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
    x, y = torch.tensor([[1.0, 1.0], [2.0, 0.0]]), torch.tensor([3, 5])
    return ZSLTask("hand", x, y, x, y, x[:1], torch.tensor([1]), cv, torch.tensor([3, 5]), torch.tensor([1]))


REAL, Y = torch.tensor([[1.0, 1.0], [2.0, 0.0]]), torch.tensor([3, 5])
C = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
GP = (math.sqrt(5) - 1) ** 2


def hand_gazsl(cfg: Config, G: nn.Module | None = None) -> GAZSL:
    cfg.gazsl.aux_hidden = 0  # a linear auxiliary classifier, whose weights are set below
    fw = GAZSL(G or IdentityG(), LinearCritic(), hand_task(), cfg, cls_weight=0.1, gp_weight=10.0)
    with torch.no_grad():
        aux = fw.extras["aux"]
        assert isinstance(aux, nn.Linear)
        aux.weight.copy_(torch.tensor([[math.log(3), 0.0], [0.0, 0.0]]))
        aux.bias.zero_()
    fw.prepare()
    return fw


# --------------------------------------------------------------------------- terms, by hand
def test_pivots_are_the_real_class_means():
    pivots = Pivots(2, 2)
    pivots.fit(torch.tensor([[0.0, 0.0], [2.0, 4.0], [5.0, 5.0]]), torch.tensor([0, 0, 1]))
    torch.testing.assert_close(pivots.centres, torch.tensor([[1.0, 2.0], [5.0, 5.0]]))


def test_pivot_distance_is_the_norm_of_each_batch_class_mean_gap_over_all_classes():
    pivots = Pivots(3, 2)
    pivots.centres[:] = torch.tensor([[0.0, 0.0], [1.0, 1.0], [10.0, 0.0]])
    fake = torch.tensor([[3.0, 0.0], [3.0, 8.0], [10.0, 2.0]])
    # class 0: mean (3, 4), gap 5 (not squared: 25); class 2: gap 2; class 1 absent but counted
    assert pivots.distance(fake, torch.tensor([0, 0, 2])).item() == pytest.approx((5 + 2) / 3)


def test_l21_norm_sums_one_l2_norm_per_input_dimension():
    w = torch.tensor([[3.0, 0.0, 1.0], [4.0, 0.0, 0.0]])  # columns: 5, 0, 1
    assert l21_columns(w).item() == pytest.approx(6.0)


def test_squared_fc_weights_skip_biases_and_batchnorm():
    net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 2.0], [0.0, 3.0]]))
        net[0].bias.fill_(5.0)
    assert squared_fc_weights([net]).item() == pytest.approx(1 + 4 + 9)  # BN scales (1, 1) left out
    assert squared_fc_weights([nn.ReLU()]).item() == 0.0


def test_gazsl_critic_loss_by_hand():
    cfg = Config()
    cfg.gazsl.aux_weight = 0.5
    fw = hand_gazsl(cfg)
    loss, stats = fw.critic_loss(REAL, C, Y)
    # aux logits x . (ln 3, 0): real (1,1) of local 0 -> p 3/4; (2,0) of local 1 -> logits (ln 9, 0), p 1/10
    ce_real = (math.log(4 / 3) + math.log(10)) / 2
    # fakes are c: (1,0) of local 0 -> p 3/4; (0,1) of local 1 -> logits (0, 0), p 1/2
    ce_fake = (math.log(4 / 3) + math.log(2)) / 2
    assert stats["aux_critic"].item() == pytest.approx(ce_real + ce_fake)
    assert stats["wasserstein"].item() == pytest.approx(2.5 - 0.5)  # D(real) 1, 4; D(fake) 2, -1
    assert loss.item() == pytest.approx(-2.0 + 10.0 * GP + 0.5 * (ce_real + ce_fake))


def test_gazsl_generator_loss_by_hand():
    cfg = Config()
    cfg.gazsl.aux_weight, cfg.gazsl.pivot_weight, cfg.gazsl.weight_decay = 0.5, 3.0, 0.1
    fw = hand_gazsl(cfg)
    loss, stats = fw.generator_loss(REAL, C, Y)
    ce = ((math.log(4 / 3) + math.log(10)) / 2 + (math.log(4 / 3) + math.log(2)) / 2) / 2
    # pivots (1,1) and (2,0); fakes (1,0) and (0,1): gaps 1 and sqrt 5, over 2 classes
    pivot = 3.0 * (1 + math.sqrt(5)) / 2
    reg = 0.1 * 2.0  # identity weight of G's one FC layer
    assert stats["aux_loss"].item() == pytest.approx(ce)
    assert stats["pivot_loss"].item() == pytest.approx(pivot)
    assert stats["reg_loss"].item() == pytest.approx(reg)
    assert loss.item() == pytest.approx(-0.5 + 0.5 * ce + pivot + reg)
    assert "cls_loss" not in stats  # cls_weight (f-CLSWGAN's lambda) plays no part


def test_unique_rows_gives_each_value_and_its_first_row():
    classes, first = unique_rows(torch.tensor([3, 1, 3, 2, 1]))
    assert classes.tolist() == [1, 2, 3] and first.tolist() == [1, 3, 0]


def test_gazsl_pivot_samples_take_the_pivot_on_fresh_fakes_of_each_batch_class():
    cfg = Config()
    cfg.gazsl.aux_weight, cfg.gazsl.weight_decay, cfg.gazsl.pivot_samples = 0.0, 0.0, 3
    fw = hand_gazsl(cfg, NoisyG())
    real, c, y = REAL.repeat(2, 1), C.repeat(2, 1), Y.repeat(2)  # each class twice in the batch
    torch.manual_seed(0)
    _, stats = fw.generator_loss(real, c, y)
    torch.manual_seed(0)
    torch.randn(4, 2)  # the batch's own fakes come first
    z = torch.randn(6, 2)  # then 3 per class: class 3's (c = e1), class 5's (c = e2)
    gaps = [(C[i] + z[3 * i : 3 * i + 3].mean(0) - REAL[i]).norm() for i in range(2)]
    assert stats["pivot_loss"].item() == pytest.approx(5.0 * sum(g.item() for g in gaps) / 2, rel=1e-5)
    cfg.gazsl.pivot_samples = 0  # the authors' form: the batch's fakes, here two per class
    torch.manual_seed(0)
    _, stats = fw.generator_loss(real, c, y)
    torch.manual_seed(0)
    z = torch.randn(4, 2)
    gaps = [(C[i] + z[i::2].mean(0) - REAL[i]).norm() for i in range(2)]
    assert stats["pivot_loss"].item() == pytest.approx(5.0 * sum(g.item() for g in gaps) / 2, rel=1e-5)


def test_gazsl_text_fc_feeds_g_and_is_sparsified():
    cfg = Config()
    cfg.gazsl.text_fc, cfg.gazsl.weight_decay, cfg.gazsl.text_sparsity_weight = True, 0.0, 0.25
    cfg.gazsl.pivot_weight = 3.0
    fw = hand_gazsl(cfg)
    text = fw.text
    assert text is not None
    with torch.no_grad():
        text.weight.copy_(torch.tensor([[0.0, 1.0], [1.0, 0.0]]))  # swaps the class vector; L2,1 = 2
        text.bias.zero_()
    torch.testing.assert_close(fw.generate(torch.zeros(2, 2), C), C.flip(1))
    _, stats = fw.generator_loss(REAL, C, Y)
    # fakes (0,1) and (1,0) against pivots (1,1) and (2,0): gaps 1 and 1
    assert stats["pivot_loss"].item() == pytest.approx(3.0 * (1 + 1) / 2)
    assert stats["reg_loss"].item() == pytest.approx(0.25 * 2)


# --------------------------------------------------------------------------- in the engine
def tiny_config(text_fc: bool = False) -> Config:
    cfg = Config()
    cfg.model.framework = "gazsl"
    cfg.model.fix_hidden = 8
    cfg.train.batch_size = cfg.search.batch_size = 16
    cfg.search.g_widths = cfg.search.d_widths = (8, 8)
    cfg.gazsl.aux_hidden = 8
    cfg.gazsl.text_fc = text_fc
    return cfg


def _values(module: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def _changed(before: list[torch.Tensor], module: nn.Module) -> bool:
    return any(not torch.equal(a, b) for a, b in zip(before, module.parameters(), strict=True))


def test_gazsl_is_registered_with_its_section():
    assert REGISTRY["gazsl"] is GAZSL and Config().gazsl.pivot_weight == 5.0  # train_GBU.py's CENT_LAMBDA


def test_gazsl_pivots_are_fitted_on_the_training_features(synthetic_task):
    task = synthetic_task
    fw = Session(tiny_config(), task, CPU, fixed_genotype(8), tiny_config().train).fw
    assert isinstance(fw, GAZSL)
    for local, cls in enumerate(task.seen_classes.tolist()):
        torch.testing.assert_close(fw.pivots.centres[local], task.train_x[task.train_y == cls].mean(0))


def test_gazsl_aux_learns_in_critic_steps_and_text_fc_in_generator_steps(synthetic_task):
    torch.manual_seed(0)
    cfg = tiny_config(text_fc=True)
    session = Session(cfg, synthetic_task, CPU, fixed_genotype(8), cfg.train)
    fw = session.fw
    aux, text = fw.extras["aux"], fw.extras["text"]
    a0, t0 = _values(aux), _values(text)
    session.step("w_d", fw.critic_loss, "train")
    assert _changed(a0, aux) and not _changed(t0, text)
    a1 = _values(aux)
    session.step("w_g", fw.generator_loss, "train")
    assert _changed(t0, text) and not _changed(a1, aux)


def test_gazsl_with_text_fc_trains_searches_and_synthesizes_through_it(synthetic_task):
    task = synthetic_task
    cfg = tiny_config(text_fc=True)
    torch.manual_seed(0)
    row = train_epoch(Session(cfg, task, CPU, fixed_genotype(8), cfg.train))
    assert all(math.isfinite(v) for v in row.values()) and row["reg_loss"] > 0
    searcher = Session(cfg, task, CPU, SearchSpace(), cfg.search, pools=split_halves)
    assert torch.isfinite(search_iteration(searcher)).all()
    fw = searcher.fw
    assert isinstance(fw, GAZSL) and fw.text is not None
    torch.manual_seed(3)
    x, _ = fw.synthesize(task.class_vectors, task.unseen_classes, 2)
    torch.manual_seed(3)
    with fw.evaluating():
        c = task.class_vectors[task.unseen_classes.repeat_interleave(2)]
        expected = fw.G(torch.randn(c.shape[0], fw.noise_dim), fw.text(c))
    torch.testing.assert_close(x, expected)


def test_gazsl_steps_run_under_bf16(synthetic_task):
    cfg = tiny_config(text_fc=True)
    cfg.train.precision = "bf16"
    torch.manual_seed(0)
    row = train_epoch(Session(cfg, synthetic_task, CPU, fixed_genotype(8), cfg.train))
    assert all(math.isfinite(v) for v in row.values())
