"""`python -m watcher` is the `watcher` command."""

import sys

from watcher.cli import main

sys.exit(main())
