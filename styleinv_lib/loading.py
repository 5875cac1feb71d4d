"""Loading trained networks by path: a run folder (its newest snapshot) or one ``.safetensors`` file.

The network's configuration travels inside the file (safetensors metadata), so ``load_generator("runs/sg2")``
needs nothing else; nothing is unpickled.  A file of the wrong stage, resolution or a tampered file is refused with
a message that says what was expected.
"""
from __future__ import annotations

from pathlib import Path


from ._version import __version__
from .checkpoint import CheckpointError, RunDir, Snapshot, load_snapshot, save_snapshot


def resolve_checkpoint(path) -> Path:
    """A snapshot file, or the newest snapshot of a run folder (:class:`CheckpointError` when there is none)."""
    p = Path(path).expanduser()
    return RunDir(p if p.is_dir() else p.parent).resolve_resume(p)


def _generator_from(snap: Snapshot, which: str):
    from .nn.stylegan2 import Generator

    cfg = snap.config.get("generator")
    if cfg is None:
        raise CheckpointError(f"{snap.path}: this snapshot carries no generator config")
    G = Generator(**cfg)
    G.load_state_dict(snap.modules_state(which))
    return G.eval().requires_grad_(False)


#: Stages whose snapshots hold a StyleGAN2 generator: the image stage and style-transfer fine-tuning.
GENERATOR_STAGES = ("stylegan2", "style_transfer")


def _generator_snapshot(path) -> Snapshot:
    snap = load_snapshot(resolve_checkpoint(path))
    if snap.stage not in GENERATOR_STAGES:
        raise CheckpointError(f"{snap.path} was written by stage {snap.stage!r}, expected a generator "
                              f"({' or '.join(repr(s) for s in GENERATOR_STAGES)})")
    return snap


def load_generator(path, *, device="cpu", resolution: int | None = None, which: str = "G_ema"):
    """The StyleGAN2 generator of a ``stylegan2`` or ``style_transfer`` run or exported file (its moving average
    ``G_ema`` by default), in eval mode; ``G.info`` records where it came from.

    ``resolution``, when given, is checked against the generator's.
    """
    snap = _generator_snapshot(path)
    G = _generator_from(snap, which)
    G.info = {"path": str(snap.path), "stage": snap.stage, "step": snap.step,
              "fine_tuned": snap.config.get("fine_tuned") or (
                  _fine_tuning_record(snap) if snap.stage == "style_transfer" else None)}
    if resolution is not None and G.img_resolution != resolution:
        raise CheckpointError(f"{snap.path}: the generator is {G.img_resolution}x{G.img_resolution}, "
                              f"expected {resolution}x{resolution}")
    return G.to(device)


def _fine_tuning_record(snap: Snapshot) -> dict:
    c = snap.config
    return {"parent": c.get("parent", ""), "images": c.get("images", ""), "style": c.get("style", ""),
            "freeze_res": c.get("effective_freeze_res"), "freeze_mapping": c.get("freeze_mapping"),
            "step": snap.step}


def export_generator(run, out, *, which: str = "G_ema") -> Path:
    """Write only the generator of a run (a few MB) into one file that :func:`load_generator` reads.  A
    style-transfer run's export records its parent, style and frozen layers under ``fine_tuned``."""
    snap = _generator_snapshot(run)
    G = _generator_from(snap, which)
    config = {"stage": "stylegan2", "exported_from": str(snap.path), "exported_by": __version__,
              "generator": snap.config["generator"],
              "training": {k: v for k, v in snap.config.items() if k not in ("generator", "discriminator")},
              "step": snap.step}
    if snap.stage == "style_transfer":
        config["fine_tuned"] = _fine_tuning_record(snap)
    return save_snapshot(Path(out), stage="stylegan2", config=config, modules={which: G})


# --------------------------------------------------------------------------------------------------------------
# The inversion encoder (stage 2, Eq. 1)

def _encoder_from(snap: Snapshot):
    from .nn.encoder import InversionEncoder

    cfg = snap.config.get("encoder")
    if cfg is None:
        raise CheckpointError(f"{snap.path}: this snapshot carries no encoder config")
    E = InversionEncoder(**cfg)
    E.load_state_dict(snap.modules_state("E"))
    E.info = {"path": str(snap.path), "generator": snap.config.get("generator", ""),
              "generator_config": snap.config.get("generator_config"),
              "step": snap.step or int(snap.config.get("step", 0))}   # an exported file keeps the run's step
    return E.eval().requires_grad_(False)


def load_encoder(path, *, device="cpu", resolution: int | None = None):
    """The inversion encoder E of an ``encoder`` run or exported file, in eval mode, with w̄ inside
    (``E(x)`` is a w in W of the generator it was trained for; ``E.info["generator"]`` is that generator's path
    as given for training, ``E.info["generator_config"]`` its architecture).

    ``resolution``, when given, is checked against the encoder's input size.
    """
    snap = load_snapshot(resolve_checkpoint(path), expected_stage="encoder")
    E = _encoder_from(snap)
    if resolution is not None and E.resolution != resolution:
        raise CheckpointError(f"{snap.path}: the encoder takes {E.resolution}x{E.resolution} images, "
                              f"expected {resolution}x{resolution}")
    return E.to(device)


def export_encoder(run, out) -> Path:
    """Write only the encoder of a run (no optimiser state) into one file that :func:`load_encoder` reads."""
    snap = load_snapshot(resolve_checkpoint(run), expected_stage="encoder")
    E = _encoder_from(snap)
    training = {k: v for k, v in snap.config.items() if k not in ("encoder", "generator_config", "stage")}
    config = {"stage": "encoder", "exported_from": str(snap.path), "exported_by": __version__,
              "encoder": snap.config["encoder"], "generator": snap.config.get("generator", ""),
              "generator_config": snap.config.get("generator_config"), "training": training, "step": snap.step}
    return save_snapshot(Path(out), stage="encoder", config=config, modules={"E": E}, rng={})


# --------------------------------------------------------------------------------------------------------------
# The committed checkpoints, from a checkout or (Colab, a pip install) from the book's repository

#: The book's repository (must equal ``repository.url`` in ``_config.yml``; a test checks it).
REPOSITORY = "https://github.com/styleinv-book/styleinv-book"
#: Environment variable overriding where :func:`checkpoint_path` downloads from (a URL ending in ``/``).
CHECKPOINT_URL_ENV = "STYLEINV_CHECKPOINT_URL"


def _check_download(path: Path, name: str) -> None:
    """A downloaded ``checkpoints/`` file is what its name says: a readable snapshot, or JSON (``.json``; one
    object per line for ``.jsonl``, the committed experiment results)."""
    import json

    if name.endswith(".jsonl"):
        for line in path.read_text().splitlines():
            if line.strip():
                json.loads(line)
    elif name.endswith(".json"):
        json.loads(path.read_text())
    else:
        from .checkpoint import read_snapshot_metadata

        read_snapshot_metadata(path)


def checkpoint_path(name: str, *, download: bool = True) -> Path:
    """``checkpoints/<name>``: the file of this checkout when the package runs from one, else a copy downloaded once
    into ``$STYLEINV_CACHE/checkpoints`` (default ``~/.cache/styleinv``) from the repository's ``checkpoints/``
    folder (``$STYLEINV_CHECKPOINT_URL`` overrides the address).  The download is written atomically and checked
    to be a readable snapshot; ``download=False`` raises ``FileNotFoundError`` instead."""
    import os
    import urllib.request

    if Path(name).name != name:
        raise ValueError(f"checkpoint names are plain file names, got {name!r}")
    local = Path(__file__).resolve().parents[1] / "checkpoints" / name
    if local.is_file():
        return local
    cache = Path(os.environ.get("STYLEINV_CACHE", Path.home() / ".cache" / "styleinv")).expanduser() / "checkpoints"
    cached = cache / name
    if cached.is_file():
        return cached
    base = os.environ.get(CHECKPOINT_URL_ENV, f"{REPOSITORY}/raw/main/checkpoints/")
    if not download:
        raise FileNotFoundError(f"checkpoint {name} is neither in {local.parent} nor in {cache}")
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cache / f".{name}.{os.getpid()}.part"
    try:
        urllib.request.urlretrieve(base + name, tmp)
        _check_download(tmp, name)             # refuse an HTML error page or a truncated file
        os.replace(tmp, cached)
    except Exception as err:
        tmp.unlink(missing_ok=True)
        raise FileNotFoundError(f"checkpoint {name}: not in {local.parent}, and downloading {base + name} failed "
                                f"({err})") from err
    return cached
