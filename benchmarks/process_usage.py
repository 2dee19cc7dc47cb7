"""What a benchmark process uses, measured one way for every benchmark: CPU seconds, resident
memory now and at its peak; and a fresh Python process per measurement, so that one case's peak
never mixes with another's (its last line of output is its report, as JSON).

Benchmarks import it as a sibling module (``python benchmarks/<name>.py`` puts this folder first
on ``sys.path``).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from typing import Any


def cpu_seconds() -> float:
    """User + system CPU seconds this process has used so far."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def rss_bytes() -> int:
    """This process's resident memory now (Linux ``/proc/self/statm``)."""
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss_bytes() -> int:
    """This process's peak resident memory so far (``ru_maxrss``, which Linux gives in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class AnonPeak:
    """Peak anonymous resident memory (``RssAnon``), sampled by a thread every ``interval`` s.

    ``ru_maxrss`` also counts file pages mapped into the process, such as a disk-backed output
    the OS may write out and drop; ``RssAnon`` is the memory only swap could free.
    """

    def __init__(self, interval: float = 0.02) -> None:
        import threading

        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)

    @staticmethod
    def anon_bytes() -> int:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
        return 0

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.peak = max(self.peak, self.anon_bytes())

    def __enter__(self) -> AnonPeak:
        self.peak = self.anon_bytes()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.anon_bytes())


def python_child(argv: list[str]) -> dict[str, Any]:
    """Run ``python *argv`` in a fresh process and return its last line of output, parsed as JSON.

    Raises ``subprocess.CalledProcessError`` (its ``stderr`` holds the child's) when it fails.
    """
    proc = subprocess.run([sys.executable, *argv], capture_output=True, text=True, check=True)
    report: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return report


__all__ = ["AnonPeak", "cpu_seconds", "peak_rss_bytes", "python_child", "rss_bytes"]
