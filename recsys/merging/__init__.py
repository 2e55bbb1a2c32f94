"""Merging recommender checkpoints (``methods``) and the merging suite's periodic-update protocol (``periodic``)."""

from recsys.merging.methods import MERGE_METHODS, MergeError, check_compatible, merge

__all__ = ["MERGE_METHODS", "MergeError", "check_compatible", "merge"]
