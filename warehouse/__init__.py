"""The footprint warehouse: immutable fact batches, their loader into DuckDB, rate cards, views, CLI."""
