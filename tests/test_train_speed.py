"""benchmarks/train_speed.py: the nominal peak each step's achieved FLOP/s is measured against."""
from __future__ import annotations

import runpy
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "train_speed.py"
AVX512 = "fpu sse2 avx avx2 fma avx512f avx512bw avx512vl"


def cpuinfo(vendor: str, family: int, flags: str) -> str:
    return f"vendor_id\t: {vendor}\ncpu family\t: {family}\nmodel name\t: a cpu\nflags\t\t: {flags}\n"


def test_peak_per_cycle_follows_the_units_and_the_datapath_width():
    per_cycle = runpy.run_path(str(SCRIPT))["per_cycle_flops"]
    # Sapphire Rapids: AMX tiles for bf16, two 512-bit FMA units for fp32
    assert per_cycle(cpuinfo("GenuineIntel", 6, AVX512 + " avx512_bf16 amx_bf16 amx_tile")) == (2048, 64)
    # Cooper Lake: AVX-512 BF16 without AMX
    assert per_cycle(cpuinfo("GenuineIntel", 6, AVX512 + " avx512_bf16")) == (128, 64)
    # AMD Zen 4 (family 25): the same instructions on 256-bit datapaths run at half the rate
    assert per_cycle(cpuinfo("AuthenticAMD", 25, AVX512 + " avx512_bf16")) == (64, 32)
    # Zen 3 (family 25 too) has no AVX-512: AVX2's two 256-bit FMA units, no native bf16
    assert per_cycle(cpuinfo("AuthenticAMD", 25, "fpu sse2 avx avx2 fma")) == (0, 32)
    # Zen 5 (family 26) has full 512-bit datapaths
    assert per_cycle(cpuinfo("AuthenticAMD", 26, AVX512 + " avx512_bf16")) == (128, 64)


def test_warmup_longer_than_the_steps_before_the_timed_ones_is_refused(capsys):
    """The warm-up steps are the ones before the first timed step (16): asking for more names the limit instead of
    seeding a data loader with a negative step deep inside a child process."""
    with pytest.raises(SystemExit) as exc:
        runpy.run_path(str(SCRIPT))["main"](["--warmup", "17", "--stages", "stylegan2", "--configs", "cpu"])
    assert exc.value.code == 2 and "--warmup must be between 0 and 16" in capsys.readouterr().err
