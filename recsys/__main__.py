"""``python -m recsys ...`` is ``recsys ...``; ``torchrun --nproc-per-node N -m recsys train ...`` needs it."""

import sys

from recsys.cli import main

sys.exit(main())
