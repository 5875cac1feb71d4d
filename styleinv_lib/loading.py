"""Loading trained networks by path: a run folder (its newest snapshot) or one ``.safetensors`` file.

The network's configuration travels inside the file (safetensors metadata), so ``load_generator("runs/sg2")``
needs nothing else; nothing is unpickled.  A file of the wrong stage, resolution or a tampered file is refused with
a message that says what was expected.
"""
from __future__ import annotations

from pathlib import Path


from ._version import __version__
from .train.checkpoint import CheckpointError, RunDir, Snapshot, load_snapshot, save_snapshot


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


def load_generator(path, *, device="cpu", resolution: int | None = None, which: str = "G_ema"):
    """The StyleGAN2 generator of a ``stylegan2`` run (its moving average ``G_ema`` by default), in eval mode.

    ``resolution``, when given, is checked against the generator's.
    """
    snap = load_snapshot(resolve_checkpoint(path), expected_stage="stylegan2")
    G = _generator_from(snap, which)
    if resolution is not None and G.img_resolution != resolution:
        raise CheckpointError(f"{snap.path}: the generator is {G.img_resolution}x{G.img_resolution}, "
                              f"expected {resolution}x{resolution}")
    return G.to(device)


def export_generator(run, out, *, which: str = "G_ema") -> Path:
    """Write only the generator of a run (a few MB) into one file that :func:`load_generator` reads."""
    snap = load_snapshot(resolve_checkpoint(run), expected_stage="stylegan2")
    G = _generator_from(snap, which)
    config = {"stage": "stylegan2", "exported_from": str(snap.path), "exported_by": __version__,
              "generator": snap.config["generator"],
              "training": {k: v for k, v in snap.config.items() if k not in ("generator", "discriminator")},
              "step": snap.step}
    return save_snapshot(Path(out), stage="stylegan2", config=config, modules={which: G})
