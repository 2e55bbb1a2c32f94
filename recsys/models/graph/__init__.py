"""Graph recommenders of ours (each module registers its model)."""

from recsys.models.graph import drgo, hnlmrec  # noqa: F401  (each registers its model)
