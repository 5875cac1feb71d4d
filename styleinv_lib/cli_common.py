"""What the ``styleinv`` training commands share: their common options and the torchrun relaunch (imported by
:mod:`styleinv_lib.cli`, :mod:`styleinv_lib.cli_video` and :mod:`styleinv_lib.cli_style`, so none of them imports
another's internals)."""
from __future__ import annotations

import argparse
import sys


def add_run_args(p) -> None:
    """The options every training command shares: snapshots, seed, device, resuming, GPUs, progress bar."""
    p.add_argument("--snapshot-kimg", type=float, default=None, help="snapshot interval in kimg")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--device", default=None, help="auto, cpu, cuda[:N] or mps (default auto)")
    p.add_argument("--resume", default=None, help="'auto' (newest snapshot in --out) or a snapshot file")
    p.add_argument("--gpus", type=int, default=1, help="processes to launch on this node with torchrun")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def add_speed_args(p) -> None:
    """``--precision`` and ``--compile/--no-compile`` (default: the profile's), shared by the training commands."""
    p.add_argument("--precision", default=None, choices=["auto", "bf16", "fp16", "fp32"],
                   help="mixed precision (auto: bf16 on CPUs with AMX/AVX-512 BF16 and on Ampere+ GPUs, fp16 on "
                        "Volta/Turing, fp32 elsewhere)")
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                   help="torch.compile the networks of the training step (default: the profile's)")


def add_skip_bad_arg(p) -> None:
    """``--skip-bad`` for the training commands that read videos."""
    p.add_argument("--skip-bad", action="store_true",
                   help="skip videos that cannot be read or stop decoding (each is named in a warning; a video "
                        "file that ends early is used up to its last frame) instead of stopping; check a dataset "
                        "first with `styleinv data inspect --deep`")


def add_settings_arg(p) -> None:
    """``--set KEY=VALUE`` (repeatable): any field of the stage's config, for settings without an option of their own."""
    p.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                   help="set any field of the stage's config (see config.json of a run), e.g. "
                        "--set lr=0.001; repeatable; values are read as JSON numbers, true/false/null, or text")


def merge_settings(config_cls, named: dict, settings: list[str]) -> dict:
    """``named`` (the command's own options; ``None`` = not given) with the ``--set KEY=VALUE`` items added.

    Unknown keys, and a key given both as an option and with ``--set`` to different values, are refused with a
    message naming them.  A value is parsed as JSON when it is one (``0.1``, ``true``, ``null``), else kept as text.
    """
    import dataclasses
    import json

    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    out = dict(named)
    for item in settings:
        key, sep, text = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ValueError(f"--set {item!r}: expected KEY=VALUE")
        if key not in fields:
            raise ValueError(f"--set {key}: not a setting of this stage (its settings: {', '.join(sorted(fields))})")
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        default = fields[key].default
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(default, bool) and not isinstance(value, bool):
            raise ValueError(f"--set {key}={text}: expected true or false")
        if out.get(key) is not None and out[key] != value:
            raise ValueError(f"{key} is given twice: {out[key]!r} by its option and {value!r} by --set")
        out[key] = value
    return out


def relaunch_with_torchrun(nproc: int, argv: list[str]) -> int:
    """Run the same command in ``nproc`` processes (one per GPU) through torchrun."""
    import subprocess

    args = list(argv)
    for i, arg in enumerate(args):                    # drop "--gpus N" or "--gpus=N": the ranks run one process each
        if arg == "--gpus":
            del args[i:i + 2]
            break
        if arg.startswith("--gpus="):
            del args[i]
            break
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "styleinv_lib.cli", *args]
    print("launching:", " ".join(cmd))
    return subprocess.call(cmd)
