"""CTR and multi-scenario models of ours (each module registers its model): the 12 Scenario-Wise Rec models and GPRec."""

from recsys.models.context import (  # noqa: F401  (each registers its model)
    adaptdhm,
    adasparse,
    epnet,
    gprec,
    hamur,
    m2m,
    m3oe,
    mmoe,
    ple,
    ppnet,
    sar_net,
    shared_bottom,
    star,
)

#: The Scenario-Wise Rec benchmark's models, in its order.
SCENARIO_MODELS = ("SharedBottom", "MMoE", "PLE", "STAR", "SARNet", "M2M", "AdaSparse", "AdaptDHM", "EPNet", "PPNet",
                   "HAMUR", "M3oE")
