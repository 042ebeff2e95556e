"""ZeroNAS: differentiable GAN architecture search for zero-shot learning.

The flow of the package follows the method:
``data`` (load, validate, split) -> ``nas.supernet`` (search space) -> ``nas.search``
-> ``nas.genotype`` (derive) -> ``train`` (f-CLSWGAN) -> ``evaluate``.
"""

__version__ = "0.2.0"
