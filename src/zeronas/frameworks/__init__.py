"""Feature-generating frameworks: the losses and extra networks around the searched G and D."""

from zeronas.config import FRAMEWORKS
from zeronas.errors import ZeroNASError
from zeronas.frameworks.base import Framework, group_parameters
from zeronas.frameworks.clswgan import CLSWGAN
from zeronas.frameworks.lisgan import LisGAN
from zeronas.frameworks.vaegan import FVAEGAN, TFVAEGAN

REGISTRY: dict[str, type[Framework]] = {f.name: f for f in (CLSWGAN, FVAEGAN, TFVAEGAN, LisGAN)}
assert tuple(REGISTRY) == FRAMEWORKS


def framework_class(name: str) -> type[Framework]:
    """The framework called ``name`` (``train.framework``)."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ZeroNASError(f"unknown framework {name!r} (known: {', '.join(REGISTRY)})") from None


__all__ = ["CLSWGAN", "FVAEGAN", "REGISTRY", "TFVAEGAN", "Framework", "LisGAN", "framework_class", "group_parameters"]
