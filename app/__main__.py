"""`python -m app` is the same as the `yiqingtong` console script."""

from app.cli import main

raise SystemExit(main())
