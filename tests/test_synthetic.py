"""The semi-synthetic benchmarks: real class vectors, planted generators, one seed."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from zeronas.baselines.generators import LinearGenerator
from zeronas.data import load_dataset
from zeronas.errors import ZeroNASError
from zeronas.nas.genotype import Edge, NetGenotype, Node, random_genotype
from zeronas.synthetic import PlantedGenerator, SynthConfig, build_benchmark, real_class_vectors, recovery

SMALL = dict(trainval_per_class=4, test_seen_per_class=2, test_unseen_per_class=3, feature_dim=16)


@pytest.fixture(scope="module", params=["mlp", "genotype", "linear", "nonlinear"])
def built(request, tmp_path_factory):
    cfg = SynthConfig(base="awa2", variant=request.param, widths=(8, 8, 8, 8), **SMALL)
    out = tmp_path_factory.mktemp("synth") / f"awa2_{request.param}"
    return cfg, out, build_benchmark(cfg, out)


def test_real_class_vectors_and_roles():
    cub = real_class_vectors("cub")
    assert cub.att.shape == (200, 312) and cub.unseen.size == 50 and cub.seen.size == 150
    assert np.allclose(np.linalg.norm(cub.att, axis=1), 1.0)
    awa = real_class_vectors("awa2")
    assert {awa.names[c] for c in awa.unseen} >= {"sheep", "dolphin", "blue+whale", "bobcat"}
    sun = real_class_vectors("sun")
    assert sun.att.shape == (717, 102) and sun.unseen.size == 72 and sun.seen.size == 645
    assert {sun.names[c] for c in sun.unseen} >= {"airlock", "bog", "tundra", "ziggurat"}
    assert "abbey" in {sun.names[c] for c in sun.seen}


def test_the_sun_base_draws_suns_image_counts():
    cfg = SynthConfig(base="sun")
    cfg.check()
    assert (cfg.trainval_per_class, cfg.test_seen_per_class, cfg.test_unseen_per_class) == (16, 4, 20)


def test_benchmark_loads_with_the_real_class_roles(built):
    cfg, out, summary = built
    ds = load_dataset(out)
    cv = real_class_vectors("awa2")
    assert ds.feature_dim == 16 and ds.attr_dim == 85
    assert ds.unseen_classes.tolist() == sorted(cv.unseen.tolist())
    assert summary["samples"] == {"trainval": 40 * 4, "test_seen": 40 * 2, "test_unseen": 10 * 3}
    assert json.loads((out / "benchmark.json").read_text())["config"]["variant"] == cfg.variant
    assert "Semi-synthetic" in (out / "README.md").read_text()
    assert summary["note"].startswith("semi-synthetic: AWA2's real class vectors")


def test_same_seed_same_files_other_seed_other_features(built, tmp_path):
    cfg, out, _ = built
    again = tmp_path / "again"
    build_benchmark(cfg, again)
    assert np.array_equal(load_dataset(out).raw.features, load_dataset(again).raw.features)
    other = tmp_path / "other"
    build_benchmark(SynthConfig(**{**cfg.__dict__, "seed": 1}), other)
    assert not np.allclose(load_dataset(out).raw.features, load_dataset(other).raw.features)


def test_planted_generator_reloads_and_explains_the_data(built):
    cfg, out, _ = built
    planted = PlantedGenerator.load(out)
    ds = load_dataset(out)
    # the seen features were drawn by this generator: regenerate them from the same stream
    gen = torch.Generator().manual_seed(cfg.seed)
    fresh = PlantedGenerator.load(out)
    from zeronas.synthetic import _planted

    _planted(cfg, real_class_vectors(cfg.base), gen)  # consume the draws of the weights
    seen = torch.from_numpy(real_class_vectors(cfg.base).seen)
    x, _ = fresh.sample(seen, cfg.trainval_per_class + cfg.test_seen_per_class, gen)
    assert torch.allclose(x, torch.from_numpy(ds.raw.features[: x.shape[0]]), atol=1e-5)
    z = torch.randn(5, planted.noise_dim)
    assert torch.equal(planted(z, torch.arange(5)), fresh(z, torch.arange(5)))


def test_genotype_variant_is_in_the_search_space(tmp_path):
    cfg = SynthConfig(base="awa2", variant="genotype", widths=(8, 8, 8, 8), **SMALL)
    summary = build_benchmark(cfg, tmp_path / "g")
    g = NetGenotype.from_dict("generator", summary["planted_genotype_dict"])
    assert len(g.nodes) >= 3  # deep enough for the architecture to matter
    assert {e.op for n in g.nodes for e in n.inputs} | {e.op for e in g.output} <= {"fc_relu", "fc_lrelu"}
    assert recovery(g, g) == {"edges": 1.0, "ops": 1.0, "activations": 1.0}


def _net(nodes: list[tuple[int, list[tuple[int, str]]]], output: list[tuple[int, str]]) -> NetGenotype:
    return NetGenotype(
        "generator",
        tuple(Node(i, 8, tuple(Edge(src, op) for src, op in ins)) for i, ins in nodes),
        tuple(Edge(src, op) for src, op in output),
    )


def test_recovery_by_hand():
    planted = _net([(3, [(0, "fc_relu"), (2, "fc_lrelu")])], [(3, "fc_relu"), (1, "fc_relu")])
    found = _net([(3, [(0, "fc_bn_relu"), (1, "fc_lrelu")])], [(3, "fc_relu"), (2, "fc_relu")])
    # planted edges: 0->3 (found, other op, same activation), 2->3 (missed), 3->out (exact), 1->out (missed)
    assert recovery(found, planted) == {"edges": 0.5, "ops": 0.25, "activations": 0.5}
    draws = [
        recovery(random_genotype("generator", (8,), np.random.default_rng(s)), planted)["edges"] for s in range(50)
    ]
    assert 0.0 < np.mean(draws) < 1.0


def test_refuses_a_non_empty_folder_and_bad_settings(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    with pytest.raises(ZeroNASError, match="not empty"):
        build_benchmark(SynthConfig(**SMALL), tmp_path / "x")
    assert (tmp_path / "x" / "keep.txt").read_text() == "mine"
    with pytest.raises(ZeroNASError, match="unknown base"):
        build_benchmark(SynthConfig(base="imagenet", **SMALL), tmp_path / "y")
    assert not (tmp_path / "y").exists()


def test_real_bases_keep_their_defaults():
    cfg = SynthConfig(base="cub")
    cfg.check()
    assert (cfg.gap, cfg.noise_scale, cfg.trainval_per_class, cfg.test_seen_per_class, cfg.test_unseen_per_class) == (
        0.8,
        6.0,
        40,
        10,
        50,
    )


def test_random_base_draws_many_classes_from_the_seed(tmp_path):
    small = dict(classes=60, unseen_classes=12, class_dim=8, feature_dim=16, trainval_per_class=4)
    summary = build_benchmark(SynthConfig(base="random", **small), tmp_path / "randsim")
    assert summary["classes"] == {"total": 60, "seen": 48, "unseen": 12}
    assert summary["config"]["gap"] == 0.2 and summary["config"]["noise_scale"] == 2.0
    ds = load_dataset(tmp_path / "randsim")
    assert ds.attr_dim == 8 and ds.unseen_classes.size == 12
    assert "Synthetic" in (tmp_path / "randsim" / "README.md").read_text()
    assert summary["note"].startswith("synthetic: drawn class vectors")  # not "real", as for cub/awa2
    planted = PlantedGenerator.load(tmp_path / "randsim")  # the drawn class vectors come back from the seed
    assert planted.class_input.shape == (60, 8)
    build_benchmark(SynthConfig(base="random", seed=1, **small), tmp_path / "other")
    assert not np.allclose(ds.raw.class_vectors, load_dataset(tmp_path / "other").raw.class_vectors)
    with pytest.raises(ZeroNASError, match="unseen_classes"):
        SynthConfig(base="random", classes=10, unseen_classes=10).check()


def test_random_base_class_vectors_predict_unseen_class_means(tmp_path):
    """The drawn class vectors carry the class signal: the linear generator's ridge map,
    fitted on the training classes, places the held-out classes' means well enough to
    classify their images far above chance."""
    build_benchmark(SynthConfig(base="random", classes=300, unseen_classes=60), tmp_path / "r")
    task = load_dataset(tmp_path / "r").validation_task(0, 1)
    held = task.unseen_classes
    pred = LinearGenerator(task, 1.0).class_means(task.class_vectors[held])
    guess = held[torch.cdist(task.test_unseen_x, pred).argmin(dim=1)]
    assert (guess == task.test_unseen_y).float().mean().item() > 5 / held.numel()


def test_linear_variant_means_are_affine_in_the_loaded_class_vectors(tmp_path):
    """Without noise the linear variant's features are an affine map of the class vectors the
    loader gives every method, so the linear floor is the right model there; the mlp
    variant's are not."""
    residual = {}
    for variant in ("linear", "mlp"):
        out = tmp_path / variant
        cfg = SynthConfig(base="random", variant=variant, classes=40, unseen_classes=8, class_dim=6, **SMALL)
        build_benchmark(cfg, out)
        planted, cv = PlantedGenerator.load(out), load_dataset(out).test_task().class_vectors
        classes = torch.arange(cv.shape[0])
        means = planted(torch.zeros(classes.numel(), planted.noise_dim), classes)
        a = torch.cat([cv, torch.ones(classes.numel(), 1)], dim=1).double()
        fit = torch.linalg.lstsq(a, means.double()).solution
        residual[variant] = ((a @ fit - means).norm() / means.norm()).item()
    assert residual["linear"] < 1e-4 < 1e-2 < residual["mlp"]


def _held_out_mean_errors(cfg: SynthConfig, out, fit: np.ndarray, held: np.ndarray) -> tuple[float, float]:
    """Relative squared error of the noise-free class means of ``held`` predicted from those
    of ``fit``: the best of three ridge maps (what the linear floor is), and RBF kernel ridge."""
    from sklearn.kernel_ridge import KernelRidge
    from sklearn.linear_model import Ridge

    build_benchmark(cfg, out)
    planted, cv = PlantedGenerator.load(out), load_dataset(out).test_task().class_vectors
    classes = torch.arange(cv.shape[0])
    means = planted(torch.zeros(classes.numel(), planted.noise_dim), classes).detach().numpy()
    c = cv.numpy()

    def held_out_error(model) -> float:
        pred = model.fit(c[fit], means[fit]).predict(c[held])
        return float(((pred - means[held]) ** 2).sum() / ((means[held] - means[fit].mean(0)) ** 2).sum())

    linear = min(held_out_error(Ridge(alpha=a)) for a in (1e-3, 1e-1, 10.0))
    return linear, held_out_error(KernelRidge(alpha=1e-1, kernel="rbf", gamma=2.0))


def test_nonlinear_variant_means_are_learnable_beyond_a_linear_map(tmp_path):
    """The nonlinear variant's noise-free class means are a smooth function of the loaded
    class vectors: an RBF kernel ridge fitted on 3/4 of the classes predicts the other
    classes' means far better than the best affine map does (which the linear floor is)."""
    cfg = SynthConfig(base="random", variant="nonlinear", classes=400, unseen_classes=80, class_dim=4, **SMALL)
    linear, kernel = _held_out_mean_errors(cfg, tmp_path / "nl", np.arange(300), np.arange(300, 400))
    assert kernel < 0.5 * linear and linear > 0.3


def test_nonlinear_variant_on_cub_leaves_a_nonlinearity_to_learn_from_the_seen_classes(tmp_path):
    """On CUB's real 312-d class vectors (``cubsim_nl``), fitted on the 150 seen classes, a
    kernel regressor predicts the 50 unseen classes' means better than any affine map."""
    cfg = SynthConfig(base="cub", variant="nonlinear", **SMALL)
    unseen = real_class_vectors("cub").unseen
    seen = np.setdiff1d(np.arange(200), unseen)
    linear, kernel = _held_out_mean_errors(cfg, tmp_path / "cub_nl", seen, unseen)
    assert kernel < 0.85 * linear and linear > 0.5


def test_synth_command_offers_every_base_and_variant():
    """The CLI lists the names by hand (it keeps torch out of its import); they must not drift."""
    from zeronas.cli_data import synth_command
    from zeronas.synthetic import BASES, VARIANTS

    choices = {p.name: tuple(p.type.choices) for p in synth_command.params if hasattr(p.type, "choices")}
    assert choices["base"] == BASES and choices["variant"] == VARIANTS
