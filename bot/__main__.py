"""`python -m bot` is the same as the `yiqingtong` console script."""

from bot.cli import main

raise SystemExit(main())
