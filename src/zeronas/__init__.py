"""ZeroNAS: differentiable GAN architecture search for zero-shot learning.

The package reads in the order the data flows: ``data`` (load, validate, split) ->
``nas`` (the search space) -> ``frameworks`` (losses around G and D) -> ``engine`` (the
search and the training) -> ``evaluation`` (scoring and the selection protocol) ->
``experiments``; ``pipeline`` and ``cli`` put them together.
"""

from zeronas._version import __version__

# The built-in frameworks declare their config sections when imported: import them with
# the package, so that every Config knows [clswgan], [vaegan], ... whatever was imported.
import zeronas.frameworks  # noqa: E402, F401  # isort: skip

__all__ = ["__version__"]
