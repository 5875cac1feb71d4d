"""Rewrite the file paths a committed checkpoint records (its generator, encoder, parent) after the files moved.

A StyleInV export names the generator and encoder it was trained with, and loading it follows those paths
(``checkpoints/<name>`` resolves through ``checkpoint_path`` in any checkout or in Colab).  The v2 models were
trained while their inputs lay in ``checkpoints/wip/``; this moves the recorded paths to ``checkpoints/``:

    python benchmarks/relocate_recorded_paths.py checkpoints/*_v2_cpu.safetensors --old checkpoints/wip/ \\
        --new checkpoints/

Only the JSON header changes; the tensors and their checksum stay as they are, and each file is replaced
atomically.

A results file of chapter 9's experiments records no path, but each row's ``config_hash`` and ``recipe_hash`` (and a
reference row's key) hash the generator and encoder paths it was trained with, and ``make experiments`` skips a row
only when they match.  With ``--results``, each row's hashes are first recomputed from the old paths (``--generator``,
``--encoder``: what the rows were trained with) and must equal the recorded ones, then recomputed with ``--old``
replaced by ``--new`` in those paths and written back:

    python benchmarks/relocate_recorded_paths.py --results checkpoints/experiments_v2_cpu.jsonl \
        --data data/synthfaces --generator checkpoints/stylegan2_synthfaces32_v2_cpu.safetensors \
        --encoder checkpoints/encoder_synthfaces32_v2_cpu.safetensors --old _v2_cpu. --new _v2_g900_cpu.
"""
from __future__ import annotations

import argparse
import json
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


def rehash_row(row: dict, *, data, old: dict, new: dict) -> dict:
    """``row`` with the hashes it would have had, trained with the paths ``new`` instead of ``old``
    (``{"generator": ..., "encoder": ...}``); raises if ``old`` does not reproduce the recorded hashes."""
    from styleinv_lib.experiments import (EXPERIMENTS, REFERENCE_KINDS, _reference_key, config_hash,
                                          dataset_setup, experiment_config, recipe_hash)

    exp = EXPERIMENTS[row["experiment"]]
    out = dict(row)
    if exp.kind in REFERENCE_KINDS:
        before, after = (_reference_key(exp, row["profile"], data=data, generator=paths["generator"])
                         for paths in (old, new))
        if before != row["config_hash"]:
            raise ValueError(f"{row['experiment']}: the old paths give key {before}, the row has {row['config_hash']}")
        out["config_hash"] = after
        return out
    settings = dataset_setup(exp, data)[0]
    cfgs = [experiment_config(exp, row["profile"], data=data, device="auto", seed=row["seed"], **paths, **settings)
            for paths in (old, new)]
    if config_hash(cfgs[0]) != row["config_hash"]:
        raise ValueError(f"{row['experiment']} seed {row['seed']}: the old paths give {config_hash(cfgs[0])}, the row "
                         f"has {row['config_hash']}")
    out["config_hash"] = config_hash(cfgs[1])
    if "recipe_hash" in row:
        if recipe_hash(cfgs[0]) != row["recipe_hash"]:
            raise ValueError(f"{row['experiment']} seed {row['seed']}: recipe hash differs with the old paths")
        out["recipe_hash"] = recipe_hash(cfgs[1])
    return out


def rehash_results(path: Path, *, data, generator: str, encoder: str, old: str, new: str) -> dict[str, str]:
    """Rewrite the hashes of every row of the results file ``path`` (see the module docstring); returns
    ``{old hash: new hash}`` for the files that quote them (the protocol spread)."""
    before = {"generator": generator, "encoder": encoder}
    after = {k: v.replace(old, new) for k, v in before.items()}
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    moved = [rehash_row(r, data=data, old=before, new=after) for r in rows]
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    tmp.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in moved))
    os.replace(tmp, path)
    return {a["config_hash"]: b["config_hash"] for a, b in zip(rows, moved)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", type=Path, nargs="*")
    parser.add_argument("--old", required=True)
    parser.add_argument("--new", required=True)
    parser.add_argument("--results", type=Path, help="a results file of chapter 9's experiments to rehash")
    parser.add_argument("--data", type=Path, help="with --results: the data the rows were trained on")
    parser.add_argument("--generator", help="with --results: the generator path the rows were trained with")
    parser.add_argument("--encoder", help="with --results: the encoder path the rows were trained with")
    parser.add_argument("--spread", type=Path, nargs="*", default=[],
                        help="with --results: protocol-spread files whose config hashes follow the rows'")
    args = parser.parse_args(argv)
    if args.results is not None:
        if not (args.data and args.generator and args.encoder):
            parser.error("--results needs --data, --generator and --encoder")
        mapping = rehash_results(args.results, data=args.data, generator=args.generator, encoder=args.encoder,
                                 old=args.old, new=args.new)
        print(f"{args.results}: {sum(a != b for a, b in mapping.items())} rows rehashed")
        for spread in args.spread:
            text = spread.read_text()
            for a, b in mapping.items():
                text = text.replace(f'"config_hash": "{a}"', f'"config_hash": "{b}"')
            spread.write_text(text)
            print(f"{spread}: config hashes followed")
    for path in args.files:
        print(f"{path}: {'rewritten' if relocate(path, args.old, args.new) else 'unchanged'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
