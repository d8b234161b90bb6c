"""`python -m cnr` is the same as the `cnr` console script."""
from cnr.cli import main

raise SystemExit(main())
