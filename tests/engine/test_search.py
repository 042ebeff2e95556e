"""The search's steps (Algorithm 1): each updates only its parameter set, on its half of the
data; the sampled mode's temperature schedule."""

from __future__ import annotations

import math

import pytest
import torch

from zeronas.config import Config
from zeronas.engine import SearchSpace, Session, search_iteration, split_halves
from zeronas.engine.networks import build_networks
from zeronas.engine.search import gumbel_temperature, ramp, set_schedules
from zeronas.errors import ZeroNASError
from zeronas.nas.genotype import Genotype, fixed_genotype


@pytest.fixture(scope="module")
def searcher(synthetic_task):
    cfg = Config()
    cfg.search.g_widths = (8, 8, 8, 8)
    cfg.search.d_widths = (8, 8, 8, 8)
    cfg.search.batch_size = 16
    cfg.clswgan.pretrain_cls_epochs = 2
    torch.manual_seed(0)
    return searching(cfg, synthetic_task)


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
        set_schedules(s, epoch)
        taus.append((s.G.tau, s.D.tau))
    assert taus == [pytest.approx((t, t)) for t in (10.0, 5.05, 0.1)]
    before = _snapshot(s)
    assert torch.isfinite(search_iteration(s)).all()
    assert _changed(before, _snapshot(s)) == set(before)


def test_discretisation_terms_ramp_up_with_the_architecture_steps():
    cfg = Config()
    cfg.search.epochs = 5
    assert [ramp(e, cfg.search, 2.0) for e in (1, 2, 3, 5)] == pytest.approx([0.0, 0.5, 1.0, 2.0])
    assert [ramp(e, cfg.search, 0.0) for e in (1, 5)] == [0.0, 0.0]
    cfg.search.warmup_epochs = 1  # the ramp starts with the architecture steps
    assert [ramp(e, cfg.search, 2.0) for e in (1, 2, 3, 5)] == pytest.approx([0.0, 0.0, 2 / 3, 2.0])


def _after_steps(cfg: Config, task, iterations: int = 4) -> tuple[Session, dict[str, tuple[float, float]]]:
    """A fresh seeded search after ``iterations`` at its last epoch's schedules: op entropy and
    edge spill of (G, D) before and after."""
    torch.manual_seed(0)
    s = searching(cfg, task)
    set_schedules(s, cfg.search.epochs)
    keep = cfg.search.keep_edges

    def measure() -> tuple[tuple[float, float], tuple[float, float]]:
        nets = (s.G, s.D)
        return tuple(n.op_entropy().item() for n in nets), tuple(n.edge_spill(keep).item() for n in nets)

    e0, s0 = measure()
    for _ in range(iterations):
        search_iteration(s)
    e1, s1 = measure()
    return s, {"entropy0": e0, "entropy": e1, "spill0": s0, "spill": s1}


@pytest.mark.parametrize("setting, figure", [("arch_entropy", "entropy"), ("edge_topk", "spill")])
def test_discretisation_terms_pull_each_edge_to_one_operation_and_each_node_to_its_kept_edges(
    searcher, setting, figure
):
    import copy

    cfg = copy.deepcopy(searcher.cfg)
    cfg.search.epochs, cfg.search.arch_lr = 5, 0.2
    _, plain = _after_steps(cfg, searcher.task)
    setattr(cfg.search, setting, 50.0)
    s, pulled = _after_steps(cfg, searcher.task)
    expected = (50.0, 0.0) if setting == "arch_entropy" else (0.0, 50.0)
    for net in (s.G, s.D):
        assert (net.entropy_weight, net.spill_weight) == expected
    assert plain[figure + "0"] == pulled[figure + "0"]  # the same start
    if figure == "entropy":
        assert pulled["entropy0"] == pytest.approx((math.log(8), math.log(8)), abs=1e-3)
    # the same draws and steps; with the term both nets move clearly further toward a discrete choice
    for net in (0, 1):
        assert pulled[figure][net] < plain[figure][net] - 0.1 * plain[figure + "0"][net]


def test_edge_topk_needs_softmax_edge_gates():
    cfg = Config()
    cfg.search.edge_topk, cfg.search.edge_gates = 1.0, "sigmoid"
    with pytest.raises(ZeroNASError, match="edge_topk needs"):
        cfg.check()


def _select_val_config() -> Config:
    """A tiny search with ``select = "val"`` over two candidates and two folds."""
    cfg = Config()
    for item in (
        "search.epochs=2",
        "search.batch_size=128",
        "train.batch_size=128",
        "eval.folds=2",
        "search.g_widths=8,8,8,8",
        "search.d_widths=8,8,8,8",
        "search.arch_lr=0.3",
        "search.select=val",
        "search.val_candidates=2",
        "train.epochs=1",
        "model.fix_hidden=16",
        "eval.syn_num_zsl=20",
        "eval.syn_num_gzsl=20",
        "eval.final_cls_epochs=2",
        "clswgan.pretrain_cls_epochs=2",
    ):
        cfg.apply_overrides([item])
    return cfg


def test_select_val_retrains_the_last_genotypes_on_the_folds_and_never_reads_test(tmp_path, monkeypatch):
    """search.select = "val": the last distinct genotypes, each scored by the mean validation
    ZSL over the folds (the signal of every choice), the best one kept; test data untouched.
    Protects: a selection on the supernet's single-fold score, or one that reads test data."""
    from zeronas.data import load_dataset
    from zeronas.engine import search
    from zeronas.nas.margins import assess

    cfg = _select_val_config()
    ds = load_dataset(None)
    monkeypatch.setattr(type(ds), "test_task", lambda self: pytest.fail("the search read the test task"))
    genotype = search(ds, cfg, 0, tmp_path, torch.device("cpu"), log=lambda m: None)
    import json

    info = json.loads((tmp_path / "genotype.json").read_text())["search"]
    cands = info["candidates"]
    assert 1 <= len(cands) <= 2 and cands[0]["epoch"] == 2  # the latest first
    best = max(cands, key=lambda c: (c["val_zsl_top1"], c["epoch"]))
    assert info["epoch"] == best["epoch"]
    history = json.loads((tmp_path / "arch_history.json").read_text())
    assert genotype.to_dict() == history[best["epoch"] - 1]["genotype_dict"]
    # the verdict judges the genotype handed on, not the search's last one
    init = json.loads((tmp_path / "arch_init.json").read_text())
    verdict = assess(history, init, cfg.search.keep_edges, best["epoch"]).to_dict()
    assert {k: info[k] for k in verdict} == verdict
    # its size in architecture steps: an iteration with architecture steps per iteration of each epoch
    from zeronas.engine.search import search_session

    per_epoch = search_session(cfg, ds, torch.device("cpu")).iterations("tr")
    assert per_epoch > 1 and info["arch_steps"] == cfg.search.epochs * per_epoch
    for c in cands:
        assert (tmp_path / "candidates" / f"epoch{c['epoch']}" / "validation.json").is_file()
    # a candidate's folds are read back only under the settings they were trained with
    from zeronas.engine.train import validate_genotype

    where = tmp_path / "candidates" / f"epoch{best['epoch']}"
    args = (ds, genotype, cfg, 0, where, torch.device("cpu"), True, lambda m: None)
    assert validate_genotype(*args)["zsl"]["val_zsl_top1"] == best["val_zsl_top1"]
    cfg.apply_overrides(["train.epochs=2"])
    with pytest.raises(ZeroNASError, match=r"epoch\d+: these validation folds were trained with other settings "):
        validate_genotype(*args)
    with pytest.raises(ZeroNASError, match=r"\(train\.epochs 1 -> 2\)"):
        validate_genotype(*args)


@pytest.mark.parametrize("opt_key", ["a_d", "w_d", "a_g", "w_g"])
def test_a_step_computes_the_gradients_of_its_own_set_only(searcher, opt_key):
    """Protects ``backward(inputs=...)``: no other parameter gets a gradient, not even one
    that the gradient penalty's double backward could reach."""
    s = searcher
    for p in s.all_params:
        p.grad = None
    loss = s.fw.critic_loss if opt_key.endswith("d") else s.fw.generator_loss
    s.step(opt_key, loss, "val" if opt_key.startswith("a") else "tr")
    own = {id(p) for p in s.params[opt_key]}
    assert any(p.grad is not None for p in s.params[opt_key])
    assert all(p.grad is None for p in s.all_params if id(p) not in own)


def test_the_weights_adam_is_fused_on_cpu(searcher):
    assert all(o.defaults["fused"] for o in searcher.opt.values())


def test_bf16_steps_run_matmuls_in_bf16_and_keep_fp32_parameters(synthetic_task):
    """``search.precision = "bf16"``: the networks run under bfloat16 autocast inside a step (so
    the step differs from fp32), their parameters and optimizer states stay fp32."""
    results = {}
    for precision in ("fp32", "bf16"):
        cfg = Config()
        cfg.search.g_widths = cfg.search.d_widths = (8, 8, 8, 8)
        cfg.search.batch_size = 16
        cfg.search.precision = precision
        cfg.clswgan.pretrain_cls_epochs = 2
        torch.manual_seed(0)
        s = searching(cfg, synthetic_task)
        seen: list[torch.dtype | None] = []

        def spy(module, inputs, out, seen=seen):
            bf16 = torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
            seen.append(torch.bfloat16 if bf16 else None)

        hook = s.G.register_forward_hook(spy)
        losses = search_iteration(s)
        hook.remove()
        assert torch.isfinite(losses).all()
        assert {p.dtype for p in s.all_params} == {torch.float32}
        states = [t for o in s.opt.values() for st in o.state.values() for t in st.values() if t.dim() > 0]
        assert {t.dtype for t in states} == {torch.float32}
        assert set(seen) == {torch.bfloat16 if precision == "bf16" else None}
        results[precision] = [p.detach().clone() for p in s.G.arch_parameters()]
    assert any(not torch.equal(a, b) for a, b in zip(results["fp32"], results["bf16"], strict=True))


def test_max_supernet_widths_search_every_node_at_the_widest_and_export_the_space_widths(synthetic_task):
    """``search.supernet_widths = "max"``: both supernets compute every node at their side's
    widest width, and the genotype they derive names the space's own widths."""
    cfg = Config()
    cfg.search.g_widths, cfg.search.d_widths = (4, 8, 12, 16), (16, 8)
    cfg.search.batch_size = 16
    cfg.clswgan.pretrain_cls_epochs = 2
    for choice, g_nodes, d_nodes in (("space", (4, 8, 12, 16), (16, 8)), ("max", (16,) * 4, (16, 16))):
        cfg.search.supernet_widths = choice
        torch.manual_seed(0)
        s = searching(cfg, synthetic_task)
        assert (s.G.widths, s.D.widths) == (g_nodes, d_nodes)
        assert torch.isfinite(search_iteration(s)).all()
        derived = [(s.G.export(), cfg.search.g_widths), (s.D.export(), cfg.search.d_widths)]
        for genotype, space in derived:
            assert [n.width for n in genotype.nodes] == [space[n.id - 3] for n in genotype.nodes]
        assert any(n.width < max(space) for genotype, space in derived for n in genotype.nodes)


def test_weight_init_choices_set_the_supernets_layers_and_leave_retraining_alone(synthetic_task):
    """``search.weight_init``: the FC layers of both supernets get std 0.02 and zero biases
    (``normal``, f-CLSWGAN's), std sqrt(2 / fan_in) and zero biases (``kaiming``), or weights and
    biases uniform in +-1/sqrt(fan_in) (``torch``, nn.Linear's default); a discrete network built
    from the same config keeps 0.02."""
    cfg = Config()
    cfg.search.g_widths, cfg.search.d_widths = (64, 128), (128, 64)
    cfg.clswgan.pretrain_cls_epochs = 2
    for choice in ("normal", "kaiming", "torch"):
        cfg.search.weight_init = choice
        torch.manual_seed(0)
        s = searching(cfg, synthetic_task)
        layers = [m for net in (s.G, s.D) for m in net.modules() if isinstance(m, torch.nn.Linear)]
        for layer in (m for m in layers if m.weight.numel() >= 256):  # enough draws for a std
            fan_in = layer.weight.shape[1]
            want = {"normal": 0.02, "kaiming": math.sqrt(2.0 / fan_in), "torch": 1 / math.sqrt(3.0 * fan_in)}
            assert layer.weight.std().item() == pytest.approx(want[choice], rel=0.15)
            if choice == "torch":
                bound = 1 / math.sqrt(fan_in)
                assert layer.weight.abs().max() <= bound and layer.bias.abs().max() <= bound
                assert layer.bias.abs().max() > bound / 2
            else:
                assert not layer.bias.any()
        assert torch.isfinite(search_iteration(s)).all()
        fixed, _ = build_networks(cfg, s.task, fixed_genotype(cfg.model.fix_hidden), critic=False)
        weights = [m.weight for m in fixed.modules() if isinstance(m, torch.nn.Linear)]
        assert all(w.std().item() == pytest.approx(0.02, rel=0.1) for w in weights)


def test_sigmoid_edge_gates_reach_both_supernets_and_derive_the_strongest_in_edges(synthetic_task):
    """``search.edge_gates = "sigmoid"``: both supernets gate each in-edge by sigmoid(beta), one
    in-edge's gate does not move the others', and each node keeps its two strongest gates."""
    cfg = Config()
    cfg.search.g_widths, cfg.search.d_widths = (8, 8), (8, 8)
    cfg.clswgan.pretrain_cls_epochs = 2
    cfg.search.edge_gates = "sigmoid"
    torch.manual_seed(0)
    s = searching(cfg, synthetic_task)
    assert torch.isfinite(search_iteration(s)).all()
    for net in (s.G, s.D):
        assert net.edge_gates == "sigmoid"
        before = net.edge_weights().detach().clone()
        with torch.no_grad():
            net.beta[-1, 0] += 5.0  # the output node's in-edge from node 0
            net.beta[-1, 2] += 3.0
        after = net.edge_weights().detach()
        moved = (after != before).nonzero().tolist()
        assert moved == [[net.out_id - 3, 0], [net.out_id - 3, 2]]
        assert [e.src for e in net.export().output] == [0, 2]
        assert net.arch_state()["edge_gates"] == "sigmoid"  # the history says what beta's numbers are


def test_a_nas_run_takes_the_chosen_candidates_folds_instead_of_training_them_again(tmp_path, monkeypatch):
    """With ``select = "val"`` the search already trained the chosen pair on every fold, with
    the training's config and seed: the retraining takes that selection and those rows, trains
    no fold again, and ends as a training that ran its folds itself.
    Protects: the folds trained twice, or a retraining whose selection differs from its own."""
    import copy
    import csv
    import json

    import zeronas.engine.train as train_module
    from zeronas.data import load_dataset
    from zeronas.pipeline import run_nas, train_genotype

    cfg, ds, dev, quiet = _select_val_config(), load_dataset(None), torch.device("cpu"), lambda m: None
    calls = []
    real = train_module.select_on_folds
    monkeypatch.setattr(train_module, "select_on_folds", lambda *a, **k: calls.append(1) or real(*a, **k))
    metrics = run_nas(ds, cfg, 0, tmp_path / "nas", dev, False, quiet)
    assert len(calls) == len(metrics["search"]["candidates"])  # one per candidate, none in the retraining

    genotype = Genotype.from_dict(metrics["genotype"])
    own = train_genotype(ds, genotype, cfg, 0, tmp_path / "own", dev, False, quiet)
    assert len(calls) == len(metrics["search"]["candidates"]) + 1
    for key in ("zsl_top1", "gzsl_h", "calibrated", "selected_epoch", "validation"):
        assert metrics[key] == own[key]

    def rows(d):  # the history without its timings
        with open(d / "history.csv") as f:
            return [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(f)]

    assert rows(tmp_path / "nas" / "train") == rows(tmp_path / "own")
    assert {r["stage"] for r in rows(tmp_path / "own")} == {"select0", "select1", "final"}
    assert json.loads((tmp_path / "nas" / "train" / "metrics.json").read_text())["validation"] == own["validation"]

    # folds trained with other settings (a run resumed with more epochs, or another
    # evaluation interval), or none: not adopted
    from zeronas.engine.runner import EpochRunner
    from zeronas.engine.search import candidate_dir

    chosen = candidate_dir(tmp_path / "nas" / "search", metrics["search"]["epoch"])
    runner = EpochRunner(tmp_path / "other", "train", "history.csv", cfg.train, log=quiet, resume=False)
    assert train_module.adopt_selection(runner, chosen, cfg) == metrics["validation"]
    longer = copy.deepcopy(cfg)
    longer.train.epochs = 2
    assert train_module.adopt_selection(runner, chosen, longer) is None
    denser = copy.deepcopy(cfg)
    denser.train.eval_every = 2 if cfg.train.eval_every == 1 else 1
    assert train_module.adopt_selection(runner, chosen, denser) is None
    logged = copy.deepcopy(cfg)
    logged.train.checkpoint_every, logged.search.val_candidates = 3, 5  # change no fold's result
    assert train_module.adopt_selection(runner, chosen, logged) == metrics["validation"]
    (chosen / train_module.FOLD_SETTINGS).unlink()  # folds validated before their settings were recorded
    assert train_module.adopt_selection(runner, chosen, cfg) is None
    assert train_module.adopt_selection(runner, tmp_path / "missing", cfg) is None


def test_sized_sets_the_epochs_that_hold_the_architecture_steps():
    from zeronas.engine.search import sized

    cfg = Config()
    assert sized(cfg, 12) is cfg  # arch_steps = 0: search.epochs as set
    cfg.set("search.epochs", 6, "a config file")
    cfg.apply_overrides(["search.arch_steps=280"])
    assert (
        sized(cfg, 12).search.epochs == 24 and sized(cfg, 28).search.epochs == 10 and sized(cfg, 7).search.epochs == 40
    )
    cfg.apply_overrides(["search.warmup_epochs=6"])  # the warm-up comes first, and no longer needs epochs > it
    assert sized(cfg.check(), 12).search.epochs == 30
    assert cfg.search.epochs == 6  # the caller's config is left as it was


def test_a_search_sized_in_architecture_steps_runs_the_epochs_that_hold_them(tmp_path):
    """``search.arch_steps`` decides the epochs once the pools are drawn: the history, the verdict
    and the genotype follow it, not ``search.epochs``."""
    import json

    from zeronas.data import load_dataset
    from zeronas.engine import search
    from zeronas.engine.search import search_session

    ds = load_dataset(None)
    cfg = _select_val_config()
    cfg.apply_overrides(["search.select=last", "search.epochs=5"])
    per_epoch = search_session(cfg, ds, torch.device("cpu")).iterations("tr")
    cfg.apply_overrides([f"search.arch_steps={per_epoch + 1}"])
    lines: list[str] = []
    search(ds, cfg, 0, tmp_path, torch.device("cpu"), log=lines.append)
    info = json.loads((tmp_path / "genotype.json").read_text())["search"]
    assert info["epochs"] == info["epoch"] == 2 and info["arch_steps"] == 2 * per_epoch
    assert len(json.loads((tmp_path / "arch_history.json").read_text())) == 2
    assert (
        f"search: {per_epoch + 1} architecture steps (search.arch_steps): 2 epochs of {per_epoch} iterations" in lines
    )
    assert cfg.search.epochs == 5
    # a session rebuilt from the config (probes, resume) holds the same epochs, its framework too
    rebuilt = search_session(cfg, ds, torch.device("cpu"))
    assert rebuilt.cfg.search.epochs == rebuilt.loop.epochs == rebuilt.fw.cfg.search.epochs == 2
    # resumed through the API with fewer steps than were run: refused, nothing rewritten
    written = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    cfg.apply_overrides(["search.arch_steps=1"])
    with pytest.raises(ZeroNASError, match=f"stage 'search' has already run 2 epochs of {per_epoch} iterations"):
        search(ds, cfg, 0, tmp_path, torch.device("cpu"), resume=True, log=lines.append)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == written
