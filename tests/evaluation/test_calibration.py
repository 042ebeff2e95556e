"""Calibrated stacking (Chao et al. 2016, SPEC §3) on hand-made margins: the per-image stack,
the S/U/H sweep, the grid of constants, the choice (best mean H, closest to 0 on ties)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from zeronas.evaluation.calibration import Stack, StackedTask, apply_constant, choose_constant, stacking_constants


def separable(seen_margins, unseen_margins) -> StackedTask:
    """A task whose best seen class is always right for seen images and whose best unseen
    class is always right for unseen images: a seen image is right iff its margin > c, an
    unseen image iff its margin <= c. One seen class (0) and one unseen class (1)."""
    sm, um = np.asarray(seen_margins, float), np.asarray(unseen_margins, float)
    ns, nu = sm.size, um.size
    return StackedTask(
        Stack(sm, np.zeros(ns, int), np.ones(ns, int)),
        Stack(um, np.zeros(nu, int), np.ones(nu, int)),
        np.zeros(ns, int),
        np.ones(nu, int),
        np.array([0]),
        np.array([1]),
    )


def test_stack_of_scores_by_hand():
    # classes 1, 3, 5, 8; seen: 1 and 5
    classes, seen = np.array([1, 3, 5, 8]), np.array([True, False, True, False])
    scores = np.array([[0.5, 0.1, 0.3, 0.1], [0.1, 0.2, 0.3, 0.4]])
    st = Stack.of(scores, classes, seen)
    np.testing.assert_allclose(st.margin, [0.5 - 0.1, 0.3 - 0.4])
    np.testing.assert_array_equal(st.best_seen, [1, 5])
    np.testing.assert_array_equal(st.best_unseen, [3, 8])  # ties (0.1, 0.1): the first column


def test_accuracy_is_per_class_for_each_constant():
    # 3 images of class 0 (seen), 1 of class 2 (seen); best seen always right
    st = Stack(np.array([0.1, 0.2, 0.3, 0.4]), np.array([0, 0, 0, 2]), np.array([9, 9, 9, 9]))
    truth = np.array([0, 0, 0, 2])
    acc = st.accuracy(truth, np.array([0, 2]), np.array([0.0, 0.15, 0.35, 0.5]))
    # constant 0.15: class 0 2/3 right, class 2 1/1 -> (2/3 + 1) / 2
    np.testing.assert_allclose(acc, [1.0, (2 / 3 + 1) / 2, (0 + 1) / 2, 0.0])
    with pytest.raises(ValueError, match="^a target class has no samples$"):
        st.accuracy(truth, np.array([0, 2, 5]), np.array([0.0]))


def test_sweep_gives_s_u_and_h_by_hand():
    task = separable([0.2, 0.4, 0.6, 0.8], [-0.5, 0.1, 0.3, 0.9])
    s, u, h = task.sweep(np.array([-1.0, 0.0, 0.35, 0.7, 1.0]))
    np.testing.assert_allclose(s, [1.0, 1.0, 0.75, 0.25, 0.0])
    np.testing.assert_allclose(u, [0.0, 0.25, 0.75, 0.75, 1.0])
    np.testing.assert_allclose(h, [0.0, 0.4, 0.75, 2 * 0.25 * 0.75 / 1.0, 0.0])  # 0 when S or U is 0
    assert apply_constant(task, 0.7) == pytest.approx({"seen": 0.25, "unseen": 0.75, "h": 0.375})


def test_h_is_zero_without_a_warning_when_s_and_u_are_both_zero():
    task = separable([0.1], [0.9])  # for c in [0.1, 0.9) both images go the wrong way
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 0/0 is not computed into a RuntimeWarning
        s, u, h = task.sweep(np.array([0.0, 0.5, 1.0]))
    assert (s.tolist(), u.tolist(), h.tolist()) == ([1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0])


def test_stacking_constants_are_zero_and_midpoints_of_quantiles():
    task = separable([0.0, 1.0], [2.0, 3.0])  # pooled margins 0, 1, 2, 3
    # 3 points: quantiles 0, 1.5, 3 -> midpoints 0.75, 2.25; and 0
    np.testing.assert_allclose(stacking_constants([task], 3), [0.0, 0.75, 2.25])
    # 4 points: quantiles 0, 1, 2, 3 -> midpoints 0.5, 1.5, 2.5: never on a margin
    np.testing.assert_allclose(stacking_constants([task], 4), [0.0, 0.5, 1.5, 2.5])


def test_stacking_constants_are_two_sided_and_pool_every_task():
    a, b = separable([-4.0], [-2.0]), separable([2.0], [4.0])
    grid = stacking_constants([a, b], 4)  # pooled -4, -2, 2, 4 -> midpoints -3, 0, 3
    np.testing.assert_allclose(grid, [-3.0, 0.0, 3.0])


def test_one_point_grid_and_identical_margins():
    task = separable([3.0, 5.0], [1.0, 2.0])
    # one point is read as two (min and max): their midpoint, and 0
    np.testing.assert_allclose(stacking_constants([task], 1), [0.0, 3.0])
    np.testing.assert_allclose(stacking_constants([task], 2), [0.0, 3.0])
    np.testing.assert_allclose(stacking_constants([separable([0.7], [0.7])], 11), [0.0])
    constant, figures = choose_constant([task], 1)
    # c = 0: S 1, U 0, H 0; c = 3: S 1/2, U 1, H 2/3
    assert constant == 3.0 and figures == pytest.approx({"seen": 0.5, "unseen": 1.0, "h": 2 / 3})


def test_choose_constant_takes_the_best_mean_h_over_tasks():
    a = separable([0.5, 0.6], [0.1, 0.2])  # separable at c in (0.2, 0.5)
    b = separable([0.05, 0.9], [0.0, 0.3])
    constant, figures = choose_constant([a, b], 101)
    grid = stacking_constants([a, b], 101)
    hs = np.mean([a.sweep(grid)[2], b.sweep(grid)[2]], axis=0)
    assert figures["h"] == pytest.approx(hs.max())
    assert constant in grid.tolist() and hs[grid.tolist().index(constant)] == hs.max()
    # the reported S and U are the means over the tasks at that constant
    s = np.mean([apply_constant(t, constant)["seen"] for t in (a, b)])
    assert figures["seen"] == pytest.approx(s)


@pytest.mark.parametrize(
    "seen, unseen, end",
    [
        ([-0.2, 0.5], [-0.6, -0.7], "high"),  # H = 1 for c in [-0.6, -0.2): the plateau's top is closest to 0
        ([0.6, 0.9], [0.2, 0.1], "low"),  # H = 1 for c in [0.2, 0.6): its bottom
        ([0.5, 0.6], [-0.5, -0.6], "zero"),  # 0 is on the plateau
    ],
)
def test_ties_go_to_the_constant_closest_to_zero(seen, unseen, end):
    """Protects the tie rule in both directions: a rule "first" (or "last") of the sorted grid
    picks the far end of a negative (positive) plateau."""
    task = separable(seen, unseen)
    grid = stacking_constants([task], 101)
    h = task.sweep(grid)[2]
    plateau = grid[h == h.max()]
    assert h.max() == 1.0 and plateau.size >= 5
    constant, figures = choose_constant([task], 101)
    assert constant == {"high": plateau.max(), "low": plateau.min(), "zero": 0.0}[end]
    assert figures == {"seen": 1.0, "unseen": 1.0, "h": 1.0}


def test_stacked_task_round_trips_through_its_state():
    task = separable([0.25, -1.5], [3.0])
    back = StackedTask.from_state(task.to_state())
    for a, b in ((task.seen, back.seen), (task.unseen, back.unseen)):
        for f in ("margin", "best_seen", "best_unseen"):
            np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    for f in ("seen_y", "unseen_y", "seen_classes", "unseen_classes"):
        np.testing.assert_array_equal(getattr(task, f), getattr(back, f))
    assert back.seen.margin.dtype == np.float64
