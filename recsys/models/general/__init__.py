"""General (non-sequential) recommenders of ours."""

from recsys.models.general import most_pop  # noqa: F401  (registers)
