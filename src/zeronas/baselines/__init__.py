"""Non-generative baselines for the comparison table, under the same leak-free protocol."""

from zeronas.baselines.eszsl import eszsl_evaluate, eszsl_fit, eszsl_scores

__all__ = ["eszsl_evaluate", "eszsl_fit", "eszsl_scores"]
