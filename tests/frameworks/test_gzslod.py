"""GZSL-OD: the detector's entropy loss by hand, its routing by entropy, and its threshold,
which comes from the training features only."""

from __future__ import annotations

import math

import pytest
import torch

from tests.frameworks.test_frameworks import tiny_config, training
from zeronas.config import EvalConfig
from zeronas.frameworks import framework_class
from zeronas.frameworks.gzslod import GZSLODConfig, entropy, od_loss, train_detector


def test_entropy_by_hand():
    # uniform over 4 classes: ln 4; logits (0, ln 3): p = (1/4, 3/4), H = ln 4 - (3/4) ln 3
    logits = torch.tensor([[1.0, 1.0, 1.0, 1.0], [0.0, math.log(3), -1e4, -1e4]])
    assert entropy(logits).tolist() == pytest.approx([math.log(4), math.log(4) - 0.75 * math.log(3)], abs=1e-6)


def test_od_loss_is_ce_plus_seen_entropy_minus_unseen_entropy():
    # seen row (0, ln 3), label 1: p = (1/4, 3/4), CE = ln 4 - ln 3, H = ln 4 - (3/4) ln 3;
    # unseen row (0, 0): H = ln 2. Loss = 2 ln 4 - (7/4) ln 3 - ln 2 = 3 ln 2 - (7/4) ln 3
    seen, unseen = torch.tensor([[0.0, math.log(3)]]), torch.zeros(1, 2)
    loss = od_loss(seen, torch.tensor([1]), unseen)
    assert loss.item() == pytest.approx(3 * math.log(2) - 1.75 * math.log(3), abs=1e-6)


def test_the_detector_is_sure_on_seen_features_and_unsure_on_unseen_ones():
    torch.manual_seed(0)
    seen_x = torch.cat([torch.randn(40, 2) * 0.3 + torch.tensor([4.0, 0.0]), torch.randn(40, 2) * 0.3 - 4.0])
    seen_y = torch.arange(2).repeat_interleave(40)
    unseen_x = torch.randn(80, 2) * 0.3 + torch.tensor([0.0, 5.0])
    det = train_detector(seen_x, seen_y, unseen_x, 2, GZSLODConfig(od_hidden=16, od_lr=1e-2, od_epochs=15, od_batch=32))
    with torch.no_grad():
        h_seen, h_unseen = entropy(det(seen_x)).mean(), entropy(det(unseen_x)).mean()
    assert h_seen < 0.2 < math.log(2) - 0.05 < h_unseen


def test_the_rule_routes_by_entropy_and_its_threshold_uses_training_features_only(synthetic_task, monkeypatch):
    import zeronas.frameworks.gzslod as module

    task = synthetic_task
    cfg = tiny_config("gzslod")
    cfg.gzslod.od_epochs, cfg.gzslod.od_hidden = 2, 8
    fw = training(task, cfg).fw
    assert framework_class("gzslod").gzsl_rules.keys() == {"od"} and set(fw.extras) == {"classifier"}
    fed: list[torch.Tensor] = []
    real_entropy = module.entropy

    def spy(logits):  # every detector input's entropy, in call order
        fed.append(logits)
        return real_entropy(logits)

    monkeypatch.setattr(module, "entropy", spy)
    ev = EvalConfig(syn_num_gzsl=5, final_cls_epochs=2)
    torch.manual_seed(0)
    seen_pred, unseen_pred = fw.gzsl_rule("od", task, ev)
    # threshold first, on the real seen training features; then test-seen, test-unseen
    rows = [t.shape[0] for t in fed[-3:]]
    assert rows == [task.train_x.shape[0], task.test_seen_x.shape[0], task.test_unseen_x.shape[0]]
    classes = set(task.seen_classes.tolist()) | set(task.unseen_classes.tolist())
    assert set(seen_pred.tolist()) | set(unseen_pred.tolist()) <= classes
    # a threshold above every entropy sends all to the seen classifier; a tiny one, all to the unseen one
    for scale, side in ((1e6, task.seen_classes), (1e-9, task.unseen_classes)):
        cfg.gzslod.threshold_scale = scale
        s, u = fw.gzsl_rule("od", task, ev)
        assert set(torch.cat([s, u]).tolist()) <= set(side.tolist())
    with pytest.raises(KeyError):
        fw.gzsl_rule("nope", task, ev)
