"""`python -m ingest`: the worker process (same as `finops worker`)."""

import sys

from ingest.worker import main

sys.exit(main())
