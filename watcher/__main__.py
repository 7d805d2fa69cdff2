"""`python -m watcher` is the `watcher` command."""

import sys

if __name__ == "__main__":
    # imported here, not above: parser processes (spawn) import this module as
    # __mp_main__, and must not pay for the whole CLI
    from watcher.cli import main

    sys.exit(main())
