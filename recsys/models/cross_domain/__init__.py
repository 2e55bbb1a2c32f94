"""Cross-domain sequential recommenders of ours (each module registers its model)."""

from recsys.models.cross_domain import (
    c2dsr,  # noqa: F401
    llm4cdsr,  # noqa: F401  (registers)
    llm_edt,  # noqa: F401
)
