"""The frameworks known by name (``--framework``, ``model.framework``): :func:`register_framework`."""

from __future__ import annotations

from typing import TypeVar

from zeronas.config import register_choice, register_section
from zeronas.errors import ZeroNASError
from zeronas.frameworks.base import Framework

REGISTRY: dict[str, type[Framework]] = {}

F = TypeVar("F", bound=type[Framework])


def register_framework(cls: F) -> F:
    """Class decorator: make a framework known by its ``name``, with its config section.

    Checks that the class names itself, describes itself, and labels every figure its
    losses report (``critic_stats``, ``generator_stats``) in ``terms`` (the plots' legends),
    and that its GZSL rule keys can name metrics (``gzsl_<key>``, ``val_rule_<key>_h``).
    """
    if not cls.name or not cls.title or not cls.description:
        raise TypeError(f"{cls.__name__}: a framework needs a name, a title and a description")
    if REGISTRY.get(cls.name, cls) is not cls:
        raise ValueError(f"framework {cls.name!r} is already registered ({REGISTRY[cls.name].__name__})")
    unlabelled = [s for s in (*cls.critic_stats, *cls.generator_stats) if s not in cls.terms]
    if unlabelled:
        raise TypeError(f"{cls.__name__}: no label in 'terms' for the figures {', '.join(unlabelled)}")
    bad = [k for k in cls.gzsl_rules if not k.isidentifier() or k == "calibrated"]
    if bad:
        raise TypeError(f"{cls.__name__}: GZSL rule keys must be identifiers other than 'calibrated': {bad}")
    own = cls.__dict__.get("config_section")  # declared by this class, not inherited
    if own is not None:
        register_section(*own)
    register_choice("model.framework", "framework", cls.name)
    REGISTRY[cls.name] = cls
    return cls


def framework_class(name: str) -> type[Framework]:
    """The framework called ``name`` (``model.framework``)."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ZeroNASError(f"unknown framework {name!r} (known: {', '.join(REGISTRY)})") from None


def framework_sections(name: str) -> list[str]:
    """The config sections framework ``name`` reads: its own and its bases' (LisGAN: ``clswgan``
    and ``lisgan``); none for ``""`` (a method without a framework)."""
    if not name:
        return []
    found = []
    for cls in reversed(framework_class(name).__mro__):
        own = cls.__dict__.get("config_section")
        if own is not None:
            found.append(own[0])
    return found


def term_labels() -> dict[str, str]:
    """Every registered framework's figure labels (registration order)."""
    labels: dict[str, str] = {}
    for cls in REGISTRY.values():
        labels.update(cls.terms)
    return labels
