"""The candidate operations on an edge (SPEC §4) and their discrete module.

Operation ``k`` is encoded by three bits, ``k = 4*dropout + 2*batchnorm + leaky``, so that
the fused supernet can treat each property as one axis of a reshaped tensor.
"""

from __future__ import annotations

from torch import nn

OPS: tuple[str, ...] = (
    "fc_relu",
    "fc_lrelu",
    "fc_bn_relu",
    "fc_bn_lrelu",
    "fc_relu_drop",
    "fc_lrelu_drop",
    "fc_bn_relu_drop",
    "fc_bn_lrelu_drop",
)
#: The one operation on edges into the critic's output node: the WGAN score stays linear.
LINEAR = "linear"


def op_flags(name: str) -> tuple[bool, bool, bool]:
    """(dropout, batchnorm, leaky) of a candidate operation."""
    k = OPS.index(name)
    return bool(k & 4), bool(k & 2), bool(k & 1)


def make_op(name: str, in_dim: int, out_dim: int, slope: float, dropout: float) -> nn.Module:
    """A discrete operation: FC -> [BN] -> ReLU|LeakyReLU -> [Dropout], or a plain FC."""
    if name == LINEAR:
        return nn.Linear(in_dim, out_dim)
    if name not in OPS:
        raise ValueError(f"unknown operation {name!r}")
    drop, bn, leaky = op_flags(name)
    layers: list[nn.Module] = [nn.Linear(in_dim, out_dim)]
    if bn:
        layers.append(nn.BatchNorm1d(out_dim))
    layers.append(nn.LeakyReLU(slope) if leaky else nn.ReLU())
    if drop:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def init_weights(module: nn.Module) -> None:
    """f-CLSWGAN initialisation, used by every network so FIX and NAS differ only in shape."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            nn.init.zeros_(m.bias)
