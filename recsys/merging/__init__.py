"""Merging recommender checkpoints (``methods``) and the periodic-update protocol of the merging suite (``periodic``)."""

from recsys.merging.methods import MERGE_METHODS, MergeError, check_compatible, merge

__all__ = ["MERGE_METHODS", "MergeError", "check_compatible", "merge"]
