"""ZSL-ABP: the Langevin inference of the latent codes, their persistent chains, G's step.

Hand-checked cases use a one-weight generator ``G(z, c) = w * z + c`` on 1-d features.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from zeronas.config import Config
from zeronas.engine import Session
from zeronas.frameworks.abp import ABP, energy, langevin
from zeronas.nas.genotype import fixed_genotype

CPU = torch.device("cpu")


class _Scale(nn.Module):
    """``G(z, c) = w * z + c``."""

    def __init__(self, w: float):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w))

    def forward(self, z, c):
        return self.w * z + c

    def weight_parameters(self):
        return [self.w]


def _toy(steps: int, weight_decay: float = 0.0) -> ABP:
    """ABP around ``G = 2 z + c``, three 1-d training features, sigma 1, delta 0.5, no noise."""
    cfg = Config()
    cfg.abp.sigma, cfg.abp.langevin_step, cfg.abp.langevin_steps = 1.0, 0.5, steps
    cfg.abp.langevin_noise, cfg.abp.weight_decay = False, weight_decay
    task = SimpleNamespace(train_x=torch.tensor([[3.0], [5.0], [7.0]]), attr_dim=1)
    fw = ABP(_Scale(2.0), None, task, cfg, 0.0, 0.0)  # type: ignore[arg-type]
    fw.chains.codes[:] = 1.0
    return fw


X, C = torch.tensor([[3.0]]), torch.tensor([[0.0]])


def test_energy_is_the_scaled_squared_error_plus_the_prior():
    # (3 - 2)^2 / (2 * 0.25) + 1 / 2 = 2.5
    assert energy(_Scale(2.0), torch.ones(1, 1), C, X, 0.5).item() == pytest.approx(2.5)


def test_langevin_steps_by_hand():
    G = _Scale(2.0)
    # E(z) = (3 - 2z)^2 / 2 + z^2 / 2, dE/dz = -2 (3 - 2z) + z: -1 at z = 1.
    # z1 = 1 - 0.5^2 / 2 * (-1) = 1.125; dE/dz(1.125) = -1.5 + 1.125 = -0.375; z2 = 1.125 + 0.125 * 0.375
    z1 = langevin(G, torch.ones(1, 1), C, X, 1.0, 0.5, 1, noise=False)
    z2 = langevin(G, torch.ones(1, 1), C, X, 1.0, 0.5, 2, noise=False)
    assert z1.item() == pytest.approx(1.125) and z2.item() == pytest.approx(1.171875)
    # sigma 0.5, delta 0.1: dE/dz = -8 (3 - 2z) + z = -7 at z = 1; z1 = 1 + 0.005 * 7
    assert langevin(G, torch.ones(1, 1), C, X, 0.5, 0.1, 1, noise=False).item() == pytest.approx(1.035)
    # the noise: delta times one standard normal draw per step
    torch.manual_seed(3)
    noisy = langevin(G, torch.ones(1, 1), C, X, 1.0, 0.5, 1)
    torch.manual_seed(3)
    assert noisy.item() == pytest.approx(1.125 + 0.5 * torch.randn(1, 1).item())
    assert G.w.grad is None and not noisy.requires_grad  # nothing reached G's weight


def test_generator_step_sees_the_inferred_code_as_a_constant():
    fw = _toy(steps=1, weight_decay=0.1)
    fw.rows = torch.tensor([0])
    loss, stats = fw.generator_loss(X, C, torch.tensor([0]))
    assert fw.G.w.grad is None  # the Langevin steps left no gradient on G
    # z = 1.125: loss (3 - 2.25)^2 / 2 + 0.1 / 2 * 2^2 = 0.28125 + 0.2
    assert loss.item() == pytest.approx(0.48125)
    assert stats["abp_recon"].item() == pytest.approx(0.5625) and stats["abp_latent"].item() == pytest.approx(1.265625)
    loss.backward()
    # d/dw at z held constant: -(3 - 2 * 1.125) * 1.125 + 0.1 * 2 (through z it would differ)
    assert fw.G.w.grad.item() == pytest.approx(-0.84375 + 0.2)


def test_latent_codes_are_persistent_chains_per_training_row():
    fw = _toy(steps=1)
    fw.rows = torch.tensor([0])
    fw.generator_loss(X, C, torch.tensor([0]))
    assert fw.chains.codes[:, 0].tolist() == pytest.approx([1.125, 1.0, 1.0])  # only its own row
    _, stats = fw.generator_loss(X, C, torch.tensor([0]))  # the next visit resumes at 1.125
    assert stats["abp_latent"].item() == pytest.approx(1.171875**2)
    assert "chains.codes" in fw.state_dict()  # saved in checkpoints


def test_without_rows_the_codes_start_from_the_prior_and_no_chain_moves():
    fw = _toy(steps=0)
    torch.manual_seed(0)
    _, stats = fw.generator_loss(X, C, torch.tensor([0]))
    torch.manual_seed(0)
    assert stats["abp_latent"].item() == pytest.approx(torch.randn(1, 1).pow(2).item())
    assert torch.equal(fw.chains.codes, torch.ones(3, 1))


def test_a_generator_step_changes_g_and_the_batch_chains_only(synthetic_task):
    cfg = Config()
    cfg.model.framework, cfg.model.fix_hidden, cfg.train.batch_size = "abp", 8, 4
    torch.manual_seed(0)
    session = Session(cfg, synthetic_task, CPU, fixed_genotype(8), cfg.train)
    fw = session.fw
    assert session.D is None and set(session.params) == {"w_g", "a_g"}
    g0, codes0 = [p.detach().clone() for p in session.params["w_g"]], fw.chains.codes.clone()
    session.step("w_g", fw.generator_loss, "train")
    assert all(not torch.equal(a, p) for a, p in zip(g0, session.params["w_g"], strict=True))
    assert fw.rows is not None
    moved = (fw.chains.codes != codes0).any(dim=1)
    assert moved[fw.rows].all() and moved.sum() == fw.rows.unique().numel()
