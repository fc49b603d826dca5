"""Burn N CPU seconds in a Python busy loop, then print `BURNED <process_time>` (this process's whole
CPU time, interpreter start included)."""

import sys
import time

target = float(sys.argv[1])
while time.process_time() < target:
    pass
print(f"BURNED {time.process_time():.4f}", flush=True)
