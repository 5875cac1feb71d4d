"""Rewrite the file paths a committed checkpoint records (its generator, encoder, parent) after the files moved.

A StyleInV export names the generator and encoder it was trained with, and loading it follows those paths
(``checkpoints/<name>`` resolves through ``checkpoint_path`` in any checkout or in Colab).  The v2 models were
trained while their inputs lay in ``checkpoints/wip/``; this moves the recorded paths to ``checkpoints/``:

    python benchmarks/relocate_recorded_paths.py checkpoints/*_v2_cpu.safetensors --old checkpoints/wip/ \\
        --new checkpoints/

Only the JSON header changes; the tensors and their checksum stay as they are, and each file is replaced
atomically.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import save_file

RECORDED = ("config",)          # the header entries that hold paths


def relocate(path: Path, old: str, new: str) -> bool:
    """Replace ``old`` by ``new`` in ``path``'s recorded config; ``True`` when something changed."""
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
        if not any(old in meta.get(key, "") for key in RECORDED):
            return False
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    meta = {k: (v.replace(old, new) if k in RECORDED else v) for k, v in meta.items()}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, path)
    return True


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", type=Path, nargs="+")
    parser.add_argument("--old", required=True)
    parser.add_argument("--new", required=True)
    args = parser.parse_args(argv)
    for path in args.files:
        print(f"{path}: {'rewritten' if relocate(path, args.old, args.new) else 'unchanged'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
