"""`python -m watcher` is the `watcher` command."""

import sys

from watcher.cli import main

if __name__ == "__main__":
    sys.exit(main())
