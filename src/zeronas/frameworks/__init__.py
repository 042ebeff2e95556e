"""Feature-generating frameworks: the losses and extra networks around the searched G and D.

A framework is one module of this package: a :class:`Framework` subclass decorated with
:func:`register_framework`, with its config section. Every module here is imported with the
package (:func:`discover`), so a new file is all it takes (see ``docs/frameworks.md``).
"""

import importlib
import pkgutil

from zeronas.frameworks.base import Framework, Stats, group_parameters
from zeronas.frameworks.registry import (
    REGISTRY,
    framework_class,
    framework_sections,
    register_framework,
    term_labels,
)

# The built-in frameworks, in the order of the paper's Table 1 (the registry's order).
# isort: off
from zeronas.frameworks.clswgan import CLSWGAN
from zeronas.frameworks.vaegan import FVAEGAN, TFVAEGAN
from zeronas.frameworks.lisgan import LisGAN

# isort: on


def discover() -> None:
    """Import every module of this package, which registers the frameworks they define."""
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")


discover()

__all__ = [
    "CLSWGAN",
    "FVAEGAN",
    "REGISTRY",
    "TFVAEGAN",
    "Framework",
    "LisGAN",
    "Stats",
    "discover",
    "framework_class",
    "framework_sections",
    "group_parameters",
    "register_framework",
    "term_labels",
]
