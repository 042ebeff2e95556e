"""ZeroNAS: differentiable GAN architecture search for zero-shot learning.

The public Python API (``docs/api.md``)::

    import zeronas
    ds = zeronas.load_dataset()                 # the bundled Fashion-MNIST dataset
    found = zeronas.search(ds, seed=0)          # -> SearchResult (genotype, supernet, history)
    trained = zeronas.train(ds, found.genotype) # -> TrainResult (networks, metrics, synthesize)
    zeronas.evaluate(trained)

Its names are imported on first use, so ``import zeronas`` stays cheap. The package reads
in the order the data flows: ``data`` (load, validate, split) -> ``nas`` (the search space)
-> ``frameworks`` (losses around G and D) -> ``engine`` (the search and the training) ->
``evaluation`` (scoring and the selection protocol) -> ``experiments``; ``pipeline``,
``api`` and ``cli`` put them together.
"""

from typing import TYPE_CHECKING, Any

from zeronas._version import __version__

# The built-in frameworks declare their config sections when imported: import them with
# the package, so that every Config knows [clswgan], [vaegan], ... whatever was imported.
import zeronas.frameworks  # noqa: E402, F401  # isort: skip

if TYPE_CHECKING:
    from zeronas.api import (
        Config,
        Genotype,
        SearchResult,
        TrainResult,
        ZSLDataset,
        evaluate,
        load_config,
        load_dataset,
        search,
        train,
    )

#: ``__version__`` and the names of :mod:`zeronas.api`, which ``zeronas`` re-exports.
__all__ = [
    "__version__",
    "Config",
    "Genotype",
    "SearchResult",
    "TrainResult",
    "ZSLDataset",
    "evaluate",
    "load_config",
    "load_dataset",
    "search",
    "train",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from zeronas import api

        return getattr(api, name)
    raise AttributeError(f"module 'zeronas' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
