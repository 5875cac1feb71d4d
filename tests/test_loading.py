"""checkpoint_path: the committed checkpoints from a checkout, or downloaded once (Colab) and checked."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from styleinv_lib.loading import REPOSITORY, checkpoint_path, load_generator

ROOT = Path(__file__).resolve().parents[1]


def test_repository_matches_the_book_config():
    assert yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"] == REPOSITORY


def test_local_checkpoint_is_used_from_the_checkout():
    path = checkpoint_path("stylegan2_synthfaces32_v2_cpu.safetensors", download=False)
    assert path == ROOT / "checkpoints" / "stylegan2_synthfaces32_v2_cpu.safetensors"


def test_missing_checkpoint_is_downloaded_once_and_checked(tmp_path, monkeypatch):
    server = tmp_path / "server"
    server.mkdir()
    (server / "g.safetensors").write_bytes((ROOT / "checkpoints" / "stylegan2_synthfaces32_v2_cpu.safetensors")
                                           .read_bytes())
    (server / "broken.safetensors").write_text("<html>404 not found</html>")
    monkeypatch.setenv("STYLEINV_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("STYLEINV_CHECKPOINT_URL", server.as_uri() + "/")
    with pytest.raises(FileNotFoundError, match="neither"):
        checkpoint_path("g.safetensors", download=False)
    path = checkpoint_path("g.safetensors")
    assert path == tmp_path / "cache" / "checkpoints" / "g.safetensors"
    assert load_generator(path).img_resolution == 32
    (server / "g.safetensors").unlink()                      # the cached copy is used from now on
    assert checkpoint_path("g.safetensors") == path
    with pytest.raises(FileNotFoundError, match="broken.safetensors"):
        checkpoint_path("broken.safetensors")
    assert not (tmp_path / "cache" / "checkpoints" / "broken.safetensors").exists()
    with pytest.raises(FileNotFoundError, match="missing.safetensors"):
        checkpoint_path("missing.safetensors")
    with pytest.raises(ValueError, match="plain file names"):
        checkpoint_path("../etc/passwd")


def test_downloaded_results_file_must_be_json_lines(tmp_path, monkeypatch):
    """The committed experiment results (``.jsonl``) download like a checkpoint and are checked as JSON lines."""
    server = tmp_path / "server"
    server.mkdir()
    (server / "results.jsonl").write_text('{"experiment": "full"}\n{"experiment": "ape"}\n')
    (server / "bad.jsonl").write_text("<html>404 not found</html>\n")
    monkeypatch.setenv("STYLEINV_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("STYLEINV_CHECKPOINT_URL", server.as_uri() + "/")
    assert checkpoint_path("results.jsonl").read_text().count("experiment") == 2
    with pytest.raises(FileNotFoundError, match="bad.jsonl"):
        checkpoint_path("bad.jsonl")
    assert not (tmp_path / "cache" / "checkpoints" / "bad.jsonl").exists()
