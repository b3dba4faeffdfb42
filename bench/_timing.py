"""Timing helper shared by the bench scripts (imported as `bench._timing`; the scripts put the repo on sys.path)."""
from __future__ import annotations

import time


def timed(fn, repeats: int) -> list[float]:
    """Wall milliseconds of `repeats` calls of `fn`, after one warm-up call (model loading, caches)."""
    fn()  # warm-up: model loading, caches
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return times
