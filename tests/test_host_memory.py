"""keep_freed_host_memory: a training step's freed blocks stay in the process (no fresh page faults the next step),
it is set once, and a user's own malloc settings or the opt-out win.  Each case runs in a fresh interpreter: the
setting is process-wide and glibc reads its environment at start."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                                reason="glibc's malloc only")

# One "step": 24 blocks of 4 MiB (the size of an activation of the cpu preset) written, then all freed; the faults of
# steps 2-5 are counted.  glibc on its own raises its mmap threshold to 4 MiB after the first free, but then trims the
# heap's free top (96 MiB, above its 8 MiB trim threshold) back to the kernel after every step.
SCRIPT = """
import json, resource, sys
import torch
from styleinv_lib.train.host_memory import keep_freed_host_memory
result = keep_freed_host_memory() if sys.argv[1] == "call" else "not called"
again = keep_freed_host_memory() if sys.argv[1] == "call" else None
def step():
    blocks = [torch.ones(1 << 20) for _ in range(24)]
    del blocks
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(4):
    step()
faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 4
print(json.dumps({"result": result, "again": again, "faults_per_step": faults}))
"""


def _run(mode: str, **env) -> dict:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "STYLEINV_HOST_MALLOC"}
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], env={**full_env, **env}, capture_output=True,
                         text=True, check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_freed_blocks_are_reused_instead_of_faulted_in_again():
    default = _run("none")
    kept = _run("call")
    assert kept["result"] == "set" and kept["again"] == "already set"
    pages = 24 * 4 * 2**20 / 4096
    # glibc alone: every page of every step (24,520 of 24,576 here), or in some runs a quarter of them (6,368);
    # kept: 256 or 768 in twelve runs, some beside other work
    assert kept["faults_per_step"] < 0.08 * pages, kept
    assert default["faults_per_step"] > max(0.2 * pages, 4 * kept["faults_per_step"]), (default, kept)


def test_the_opt_out_and_the_users_own_malloc_settings_win():
    assert _run("call", STYLEINV_HOST_MALLOC="system")["result"] == "opted out"
    assert _run("call", MALLOC_TRIM_THRESHOLD_="131072")["result"] == "user's MALLOC_* settings"
