"""Graph recommenders of ours (each module registers its model)."""

from recsys.models.graph import drgo  # noqa: F401  (registers)
from recsys.models.graph import hnlmrec  # noqa: F401
