"""recsys: a recommender-systems benchmark toolkit built around RecBole-compatible models.

Importing the package applies the RecBole compatibility patches (``recsys.recbole.compat``)
so that RecBole 1.2.1 runs on numpy 2, torch >= 2.6 and scipy >= 1.17.
"""

from recsys.recbole import compat as _compat

_compat.apply()

__version__ = "0.1.0"
