"""`python -m pipeline.demo --out DIR ...`."""

import sys

from pipeline.demo.cli import main

sys.exit(main())
