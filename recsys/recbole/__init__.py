"""Everything that touches RecBole 1.2.1 in one place.

- ``compat``: the patches that make RecBole run on today's numpy, torch, scipy and pandas (applied
  when ``recsys`` is imported) and that keep it from running config strings as code;
- ``bridge``: RecBole's own pipeline (``recsys train --via recbole``), key checks, RecBole's defaults;
- ``dataset_view``: our prepared tensors seen as the RecBole ``Dataset`` a model constructor reads;
- ``ids``: arrays indexed by our ids re-indexed to a RecBole dataset's internal ids;
- ``interaction``: building ``Interaction`` batches, and the scorers the evaluator calls;
- ``availability``: which RecBole models cannot run on this install, and why.

This ``__init__`` imports nothing, so ``import recsys`` stays cheap.
"""
