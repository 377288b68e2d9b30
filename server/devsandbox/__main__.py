import sys

from devsandbox.cli import main

sys.exit(main())
