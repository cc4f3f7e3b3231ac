"""``python -m tensorlayer_xplain``: see :mod:`tensorlayer_xplain.cli`."""
import sys

from .cli import main

sys.exit(main())
