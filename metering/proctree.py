"""CPU seconds and resident memory of a process tree (a process and all its live descendants).

CPU time of a process tree = the root's own user+system time + its reaped children's times
(`children_user/system`, which include their reaped descendants) + the same for every live
descendant. A child's time moves from "live" to its parent's "children" figures when it is reaped,
so no second is counted twice; a short dip while a child is a zombie is hidden by keeping the
figure monotonic.
"""

from __future__ import annotations

import psutil


class ProcessTree:
    def __init__(self, pid: int) -> None:
        try:
            self.root = psutil.Process(pid)
        except psutil.Error as err:
            from metering.meter import MeterError

            raise MeterError(f"cannot meter process {pid}: {err}; is it still running?") from err
        self._max_cpu_s = 0.0

    def _members(self) -> list[psutil.Process]:
        try:
            return [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return [self.root]

    def cpu_s(self) -> float:
        """Monotonic CPU seconds of the tree (user+system, reaped children included)."""
        total = 0.0
        for p in self._members():
            try:
                t = p.cpu_times()
            except psutil.Error:  # exited between listing and reading
                continue
            total += t.user + t.system + t.children_user + t.children_system
        self._max_cpu_s = max(self._max_cpu_s, total)
        return self._max_cpu_s

    def rss_bytes(self) -> int:
        """Resident memory of the tree now (shared pages counted once per process: an upper bound)."""
        total = 0
        for p in self._members():
            try:
                total += p.memory_info().rss
            except psutil.Error:
                continue
        return total
