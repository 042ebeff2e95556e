"""The operations on an edge (SPEC §4): a registry, and the paper's eight candidates.

An operation is a name and a builder ``build(in_dim, out_dim, slope, dropout) -> nn.Module``
(:func:`register_op`); genotypes and discrete networks accept every registered operation.

The search space is :data:`OPS`, the paper's eight candidates FC -> [BN] -> ReLU|LeakyReLU
-> [Dropout]. Operation ``k`` is encoded by three bits, ``k = 4*dropout + 2*batchnorm +
leaky``, so that the fused supernet can treat each property as one axis of a reshaped
tensor; that layout computes these eight or a named subset of them (:data:`OP_SETS`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from torch import nn

from zeronas.nas.cast_cache import CastLinear

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
#: Named candidate sets (``search.g_ops`` / ``search.d_ops``): the paper's eight, and
#: narrower spaces offered as measured options (SPEC §4-5).
OP_SETS: dict[str, tuple[str, ...]] = {
    "paper": OPS,
    "no_bn": ("fc_relu", "fc_lrelu", "fc_relu_drop", "fc_lrelu_drop"),  # no batch norm (WGAN-GP critic)
    "plain": ("fc_relu", "fc_lrelu"),  # FC + activation only
}

#: ``build(in_dim, out_dim, slope, dropout)``: the module of an operation on one edge.
OpBuilder = Callable[[int, int, float, float], nn.Module]
_BUILDERS: dict[str, OpBuilder] = {}


def register_op(name: str, build: OpBuilder) -> None:
    """Make an operation known to genotypes and discrete networks (not to the supernet)."""
    if name in _BUILDERS:
        raise ValueError(f"operation {name!r} is already registered")
    _BUILDERS[name] = build


def known_ops() -> tuple[str, ...]:
    """Every registered operation, :data:`LINEAR` included."""
    return tuple(_BUILDERS)


def op_flags(name: str) -> tuple[bool, bool, bool]:
    """(dropout, batchnorm, leaky) of a candidate operation of :data:`OPS`."""
    k = OPS.index(name)
    return bool(k & 4), bool(k & 2), bool(k & 1)


def _candidate(name: str, in_dim: int, out_dim: int, slope: float, dropout: float) -> nn.Module:
    """FC -> [BN] -> ReLU|LeakyReLU -> [Dropout], as the bits of ``name`` say."""
    drop, bn, leaky = op_flags(name)
    layers: list[nn.Module] = [CastLinear(in_dim, out_dim)]
    if bn:
        layers.append(nn.BatchNorm1d(out_dim))
    layers.append(nn.LeakyReLU(slope) if leaky else nn.ReLU())
    if drop:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


for _name in OPS:
    register_op(_name, partial(_candidate, _name))
register_op(LINEAR, lambda in_dim, out_dim, slope, dropout: CastLinear(in_dim, out_dim))


def make_op(name: str, in_dim: int, out_dim: int, slope: float, dropout: float) -> nn.Module:
    """The module of operation ``name`` on an edge from ``in_dim`` to ``out_dim`` features."""
    try:
        build = _BUILDERS[name]
    except KeyError:
        raise ValueError(f"unknown operation {name!r}") from None
    return build(in_dim, out_dim, slope, dropout)


#: the choices of :func:`init_weights`
INITS = ("normal", "kaiming", "torch")


def init_weights(module: nn.Module, how: str = "normal") -> None:
    """Initialise ``module``'s FC layers.

    ``normal``: f-CLSWGAN's N(0, 0.02) weights and zero biases, used by every network so FIX and
    NAS differ only in shape. ``kaiming``: He normal (std sqrt(2 / fan_in)), zero biases, which
    keeps a signal's scale through ReLU layers whatever their fan-in. ``torch``: ``nn.Linear``'s
    own default, weights and biases uniform in +-1/sqrt(fan_in), which the authors' search
    script keeps for its supernets (their ``weights_init`` call is commented out there)."""
    if how not in INITS:
        raise ValueError(f"initialisation is {', '.join(INITS[:-1])} or {INITS[-1]}, not {how!r}")
    for m in module.modules():
        if isinstance(m, nn.Linear):
            if how == "torch":
                nn.Linear.reset_parameters(m)
                continue
            if how == "kaiming":
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            else:
                nn.init.normal_(m.weight, 0.0, 0.02)
            nn.init.zeros_(m.bias)
