"""``python -m clipbridge.cli``."""

from .main import main

raise SystemExit(main())
