"""Cross-domain sequential recommenders of ours (each module registers its model)."""

from recsys.models.cross_domain import (
    llm4cdsr,  # noqa: F401  (registers)
    llm_edt,  # noqa: F401
)
