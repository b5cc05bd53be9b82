"""``python -m modeltower`` is the command line."""

from modeltower.cli import main

raise SystemExit(main())
