"""The local stack of real servers for the multi-host deployment: PostgreSQL (Dagster's instance
storage) and SeaweedFS (the S3-compatible object store behind `FOOTPRINT_STORE`), on loopback.

    postgres.PostgresCluster   one cluster: init, start, stop, restart, its DSN
    seaweed.SeaweedServer      one `weed server` with an S3 gateway and one identity
    local                      the stack under a state dir (`scripts/stack.sh up|down|status|env`)

The same classes serve `scripts/stack.sh` and the test fixtures (tests/stack_servers.py): one
definition of how these servers start, answer and stop. Nothing runs at import.
"""
