"""Sequential recommenders of ours (each module registers its model)."""

from recsys.models.sequential import (
    h2rec,  # noqa: F401
    tta4sr,  # noqa: F401  (registers)
)
