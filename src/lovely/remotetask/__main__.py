import sys

from lovely.remotetask.cli import main

sys.exit(main())
