"""``python -m scenemem_ros.cli``."""

import sys

from scenemem_ros.cli import main

sys.exit(main())
