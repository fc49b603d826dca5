"""`make bench`: run every benchmark in one process, then print one table of all figures."""

from __future__ import annotations

import importlib
import sys
import time

from bench.common import BenchRow, print_rows

BENCHES = (
    "bench.bench_warehouse",
    "bench.bench_store",
    "bench.bench_history",
    "bench.bench_metering",
    "bench.bench_accounting",
    "bench.bench_cleaning",
    "bench.bench_labeling",
    "bench.bench_training",
    "bench.bench_demo",
)


def main(argv: list[str] | None = None) -> int:
    only = set(argv if argv is not None else sys.argv[1:])
    rows: list[BenchRow] = []
    failures: list[str] = []
    for name in BENCHES:
        if only and name.rsplit(".", 1)[-1] not in only:
            continue
        t0 = time.perf_counter()
        print(f"== {name}", flush=True)
        try:
            got = importlib.import_module(name).main()
        except Exception as err:  # a broken benchmark must not hide the others' figures
            failures.append(f"{name}: {type(err).__name__}: {err}")
            continue
        if isinstance(got, list):
            rows.extend(r for r in got if isinstance(r, BenchRow))
        print(f"   ({time.perf_counter() - t0:.1f} s)", flush=True)
    print_rows(rows, title="make bench: all figures (measured side by side in this run)")
    for f in failures:
        print(f"FAILED {f}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
