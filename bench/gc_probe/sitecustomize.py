"""Garbage-collector probe for a server started by a benchmark (loaded through PYTHONPATH, never by the app).

    GC_PROBE_OUT=/tmp/gc PYTHONPATH=bench/gc_probe python bench/chat_bench.py --concurrency 16 --no-litellm ...

Every Python process started with it writes ``$GC_PROBE_OUT.<pid>``: its command line, then one
line per collection of generation 1 or 2 (or any longer than 5 ms): time, generation, duration,
objects collected; and, rewritten every 200 collections, a summary of the collections made after
the server froze its startup heap (``PYTHON_GC_FREEZE``: counted only once gc.get_freeze_count()
is non-zero). ``kill -USR1 <pid>`` twice: the first starts keeping all garbage (gc.DEBUG_SAVEALL),
the second counts what was kept by type into ``$GC_PROBE_OUT.<pid>.garbage`` (cyclic garbage,
e.g. per request when the load in between is known).
"""

import collections
import gc
import os
import signal
import sys
import time

_out = os.environ.get("GC_PROBE_OUT")
if _out:
    _path = f"{_out}.{os.getpid()}"
    _log = open(_path, "a", buffering=1)  # noqa: SIM115 - open for the process's life
    _log.write("argv " + " ".join(sys.argv) + "\n")
    _started = [0.0]
    _count = [0, 0, 0]
    _spent = [0.0, 0.0, 0.0]
    _frozen = [False, 0.0]  # frozen yet, next time to ask

    def _summary() -> None:
        with open(f"{_path}.summary", "w") as f:
            f.write(f"after freeze: collections {_count} ms {[round(s * 1e3, 1) for s in _spent]}\n")

    def _timed(phase, info):
        if phase == "start":
            _started[0] = time.perf_counter()
            return
        took = (time.perf_counter() - _started[0]) * 1e3
        generation = info["generation"]
        if generation >= 1 or took > 5:
            _log.write(f"{time.time():.3f} gen{generation} {took:.2f}ms collected={info['collected']}\n")
        if not _frozen[0] and time.monotonic() >= _frozen[1]:
            # gc.get_freeze_count() walks the whole frozen list: asked at most once a second,
            # never again once the heap is frozen (asked every collection, it slowed a turn 2.5x).
            _frozen[0], _frozen[1] = gc.get_freeze_count() > 0, time.monotonic() + 1
        if _frozen[0]:
            _count[generation] += 1
            _spent[generation] += took / 1e3
            if sum(_count) % 200 == 0:
                _summary()

    gc.callbacks.append(_timed)

    def _garbage(signum, frame):
        if not gc.get_debug() & gc.DEBUG_SAVEALL:
            gc.collect()
            gc.set_debug(gc.DEBUG_SAVEALL)
            return
        collected = gc.collect()
        kinds = collections.Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.garbage)
        with open(f"{_path}.garbage", "w") as f:
            f.write(f"collected {collected}\n")
            for kind, count in kinds.most_common(60):
                f.write(f"{count} {kind}\n")
        gc.set_debug(0)
        gc.garbage.clear()

    signal.signal(signal.SIGUSR1, _garbage)
