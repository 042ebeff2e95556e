"""How much of a dataset's class means can any regressor predict from the class vectors?

A feature generator's ZSL accuracy is bounded by how well its class-conditional means for
unseen classes match the real ones. This probe fits regressors class vector -> class-mean
feature on the training classes of each validation fold (SPEC §3: the fold's classes play
"unseen"; no test sample is read) and scores each prediction by nearest-mean
classification (cosine) of the fold's held-out images:

- ``ridge``: the linear generator's map (what ``--methods linear`` samples around);
- ``rbf``: kernel ridge with an RBF kernel, a nonlinear regressor;
- ``mlp``: a one-hidden-layer MLP regressor (scikit-learn), another nonlinear one;
- ``torch mlp``: FIX's generator without its noise input (one 1024-unit LeakyReLU layer,
  Adam), fitted full-batch on the class means: what FIX's class path can learn as a plain
  regressor of the means;
- ``real means``: the held-out images' own class means, the reference no regressor can pass.

If no nonlinear regressor beats ridge, the data rewards no nonlinearity in the class path at
this number of training classes, and a GAN cannot be expected to beat the linear floor by
its class means. Run:

    python scripts/class_mean_probe.py --data data/cubsim
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.kernel_ridge import KernelRidge
from sklearn.neural_network import MLPRegressor

from zeronas.data import ZSLTask, load_dataset


def nearest_mean_accuracy(means: np.ndarray, task: ZSLTask, center: np.ndarray) -> float:
    """Per-class top-1 of the fold's held-out images against ``means`` (one row per unseen
    class), by cosine after subtracting ``center`` (the training features' mean): the
    features are non-negative, and uncentred cosines are dominated by their common mean."""
    x, y = task.test_unseen_x.numpy() - center, task.test_unseen_y.numpy()
    classes = task.unseen_classes.numpy()
    m = means - center
    m = m / np.linalg.norm(m, axis=1, keepdims=True)
    pred = classes[(x / np.linalg.norm(x, axis=1, keepdims=True) @ m.T).argmax(axis=1)]
    return float(np.mean([(pred[y == c] == c).mean() for c in classes]))


class TorchMLP:
    """class vector -> ``hidden`` LeakyReLU(0.2) units -> feature (FIX's generator layout,
    without the noise), fitted by full-batch Adam on squared error; the sklearn interface."""

    def __init__(self, hidden: int = 1024, steps: int = 2000, lr: float = 1e-3, seed: int = 0):
        self.hidden, self.steps, self.lr, self.seed = hidden, steps, lr, seed

    def fit(self, a: np.ndarray, m: np.ndarray) -> TorchMLP:
        torch.manual_seed(self.seed)
        x, t = torch.as_tensor(a, dtype=torch.float32), torch.as_tensor(m, dtype=torch.float32)
        self.net = torch.nn.Sequential(
            torch.nn.Linear(x.shape[1], self.hidden), torch.nn.LeakyReLU(0.2), torch.nn.Linear(self.hidden, t.shape[1])
        )
        opt = torch.optim.Adam(self.net.parameters(), lr=self.lr)
        for _ in range(self.steps):
            opt.zero_grad()
            (self.net(x) - t).pow(2).sum(dim=1).mean().backward()
            opt.step()
        return self

    def predict(self, a: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.net(torch.as_tensor(a, dtype=torch.float32)).numpy()


def regressors(mlp_steps: int = 2000) -> dict[str, object]:
    out: dict[str, object] = {f"ridge lambda={lam:g}": KernelRidge(alpha=lam) for lam in (0.1, 1.0)}
    for gamma in (0.5, 1.0, 2.0):
        out[f"rbf gamma={gamma:g} lambda=0.1"] = KernelRidge(alpha=0.1, kernel="rbf", gamma=gamma)
    for alpha in (1e-2, 1.0):
        out[f"mlp 256 alpha={alpha:g}"] = MLPRegressor(
            hidden_layer_sizes=(256,), alpha=alpha, max_iter=3000, random_state=0
        )
    out["torch mlp 1024, full batch"] = TorchMLP(steps=mlp_steps)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=None, help="an xlsa17 folder or .npz (default: the bundled dataset)")
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--mlp-steps", type=int, default=2000, help="full-batch Adam steps of the torch MLP")
    args = p.parse_args()
    ds = load_dataset(args.data)
    scores: dict[str, list[float]] = {}
    for fold in range(args.folds):
        task = ds.validation_task(fold, args.folds)
        x, y = task.train_x.numpy(), task.train_y.numpy()
        seen, unseen = task.seen_classes.numpy(), task.unseen_classes.numpy()
        center = x.mean(axis=0)
        # inputs and targets centred on the training classes: the kernel regressors have no
        # intercept, and the linear generator's ridge map is fitted the same way
        att = task.class_vectors.numpy()
        att = att - att[seen].mean(axis=0)
        means = np.stack([x[y == c].mean(axis=0) for c in seen])
        offset = means.mean(axis=0)
        real = np.stack([task.test_unseen_x.numpy()[task.test_unseen_y.numpy() == c].mean(axis=0) for c in unseen])
        scores.setdefault("real means (reference)", []).append(nearest_mean_accuracy(real, task, center))
        for name, reg in regressors(args.mlp_steps).items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                reg.fit(att[seen], means - offset)  # type: ignore[attr-defined]
            pred = reg.predict(att[unseen]) + offset  # type: ignore[attr-defined]
            scores.setdefault(name, []).append(nearest_mean_accuracy(pred, task, center))
    print(f"{ds.name}: nearest predicted class mean, % top-1 over {args.folds} validation folds (mean ± std)")
    for name, vals in scores.items():
        print(f"  {name:28s} {100 * np.mean(vals):5.1f} ± {100 * np.std(vals, ddof=1):4.1f}")


if __name__ == "__main__":
    main()
