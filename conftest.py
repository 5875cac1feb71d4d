"""Running the suite on several cores with pytest-xdist (``make test`` uses ``-n $(TEST_WORKERS) --dist loadfile``:
each file is one unit of work, so a chapter's cells run in order in one kernel and a module's fixtures are built
once).  Each worker gets its share of the cores (``OMP_NUM_THREADS``, inherited by the kernels and subprocesses it
starts, and torch's own setting), so that two workers on two cores do not run four threads.  What several files
share is built once under a lock: the book (``tests/conftest.py``) and the chapters' wheel
(``notebooks/_colab_runtime.py``).
"""
from __future__ import annotations

import os


def pytest_configure(config):
    workerinput = getattr(config, "workerinput", None)
    if workerinput is None:
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = max(1, cores // int(workerinput["workercount"]))
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(threads)
