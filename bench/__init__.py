"""Benchmarks: `make bench` runs them all (bench/run_all.py)."""
