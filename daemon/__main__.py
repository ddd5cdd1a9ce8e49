"""`python -m takefit.daemon [options]` — run the daemon in the foreground (see `--help`)."""
import sys

from .server import main

if __name__ == "__main__":
    sys.exit(main())
