"""`python -m pipelines.stack up|down|status|env` (what scripts/stack.sh runs)."""

from pipelines.stack.local import main

raise SystemExit(main())
