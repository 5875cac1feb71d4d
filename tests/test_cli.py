"""The `styleinv data` commands end to end on tiny datasets: layout, metadata, resume, errors."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from styleinv_lib.cli import main
from styleinv_lib.data import DEFAULT_VERSION, FACTOR_NAMES, SynthFaces, VideoFolder, factor_array, load_metadata
from styleinv_lib.data.export import synthfaces_version


@pytest.fixture(scope="module")
def faces_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "faces"
    assert main(["data", "synthfaces", "--out", str(out), "--videos", "8", "--frames", "32", "--resolution", "64",
                 "--quiet"]) == 0
    return out


def test_synthfaces_layout_and_metadata(faces_dir):
    videos = sorted(p for p in faces_dir.iterdir() if p.is_dir())
    assert [p.name for p in videos] == [f"{i:06d}" for i in range(8)]
    for v in videos:
        frames = sorted(v.glob("*.png"))
        assert [f.name for f in frames] == [f"{i:06d}.png" for i in range(32)]
    assert Image.open(videos[0] / "000000.png").size == (64, 64)
    meta = load_metadata(faces_dir)
    assert meta["num_videos"] == 8 and meta["num_frames"] == 32 and meta["resolution"] == 64
    assert len(meta["videos"]) == 8 and meta["num_identities"] == 8
    assert len({v["identity_id"] for v in meta["videos"]}) == 8, "one identity per video"
    for v in meta["videos"]:
        assert set(v["factors"]) == set(FACTOR_NAMES)
        assert factor_array(v).shape == (32, len(FACTOR_NAMES))
        assert v["temperament"] in meta["temperaments"]


def test_synthfaces_version_picks_the_probe_of_a_render(faces_dir, tmp_path):
    """The version a folder was rendered with, read back from its metadata (what chooses the probe that reads it):
    renders from before the field existed are version 1; folders that are not SynthFaces get the default."""
    assert synthfaces_version(faces_dir) == load_metadata(faces_dir).get("version", 1) == DEFAULT_VERSION
    old = tmp_path / "old"
    old.mkdir()
    meta = {k: v for k, v in load_metadata(faces_dir).items() if k != "version"}
    (old / "metadata.json").write_text(json.dumps(meta))
    assert synthfaces_version(old) == 1
    (old / "metadata.json").write_text(json.dumps({**meta, "version": 2}))
    assert synthfaces_version(old) == 2
    (old / "metadata.json").write_text(json.dumps({"dataset": "SynthSky"}))
    assert synthfaces_version(old) == DEFAULT_VERSION == synthfaces_version(tmp_path / "nothing-here")


def test_frames_on_disk_are_the_rendered_frames(faces_dir):
    frames = np.stack([np.asarray(Image.open(p)) for p in sorted((faces_dir / "000003").glob("*.png"))])
    assert np.array_equal(frames, SynthFaces(resolution=64, num_frames=32, seed=0).render(3).numpy())
    meta = load_metadata(faces_dir)["videos"][3]
    truth = SynthFaces(resolution=64, num_frames=32, seed=0).factors(3)
    assert np.allclose(factor_array(meta), np.stack([truth[n] for n in FACTOR_NAMES], 1), atol=1e-5)


def test_inspect_reads_it_back(faces_dir, capsys):
    assert main(["data", "inspect", str(faces_dir)]) == 0
    out = capsys.readouterr().out
    assert "8" in out and "32" in out and "64" in out
    ds = VideoFolder(faces_dir, resolution=64, mode="frames")
    assert len(ds) == 8 * 32


def test_interrupted_render_resumes_to_the_same_bytes(faces_dir, tmp_path):
    out = tmp_path / "faces"
    shutil.copytree(faces_dir, out)
    victim = out / "000005" / "000017.png"
    original = victim.read_bytes()
    victim.unlink()
    shutil.rmtree(out / "000007")
    (out / "metadata.json").unlink()
    assert main(["data", "synthfaces", "--out", str(out), "--videos", "8", "--frames", "32", "--resolution", "64",
                 "--quiet"]) == 0
    assert victim.read_bytes() == original
    assert len(list((out / "000007").glob("*.png"))) == 32
    assert json.loads((out / "metadata.json").read_text()) == json.loads((faces_dir / "metadata.json").read_text())


def test_other_settings_in_the_same_folder_are_refused(faces_dir, tmp_path, capsys):
    out = tmp_path / "faces"
    shutil.copytree(faces_dir, out)
    code = main(["data", "synthfaces", "--out", str(out), "--videos", "8", "--frames", "16", "--resolution", "64",
                 "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert str(out) in err and "num_frames" in err and "--overwrite" in err
    assert len(list((out / "000000").glob("*.png"))) == 32, "nothing was overwritten"


def test_a_foreign_non_empty_folder_is_refused(tmp_path, capsys):
    (tmp_path / "precious.txt").write_text("keep me")
    code = main(["data", "synthsky", "--out", str(tmp_path), "--videos", "1", "--frames", "4", "--quiet"])
    assert code == 2 and "not empty" in capsys.readouterr().err
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_bad_arguments_are_explained(tmp_path, capsys):
    assert main(["data", "synthfaces", "--out", str(tmp_path / "x"), "--videos", "2", "--resolution", "8"]) == 2
    assert "--resolution must be between 16 and 256" in capsys.readouterr().err
    assert main(["data", "inspect", str(tmp_path / "missing")]) == 2
    assert "missing" in capsys.readouterr().err


def test_synthsky_and_styles_commands(tmp_path):
    assert main(["data", "synthsky", "--out", str(tmp_path / "sky"), "--videos", "2", "--frames", "8",
                 "--resolution", "32", "--quiet"]) == 0
    meta = load_metadata(tmp_path / "sky")
    assert len(meta["videos"]) == 2 and "wind" in meta["videos"][0]["scene"]
    assert len(list((tmp_path / "sky" / "000001").glob("*.png"))) == 8
    assert main(["data", "styles", "--out", str(tmp_path / "styles"), "--images", "3", "--resolution", "32",
                 "--quiet"]) == 0
    for style in ("toon", "sketch", "popart"):
        assert len(list((tmp_path / "styles" / style).glob("*.png"))) == 3
        assert len(load_metadata(tmp_path / "styles" / style)["images"]) == 3
    # the subjects' SynthFaces version is recorded, and it is what picks the (style-robust) probe of a fine-tune
    other = 2 if DEFAULT_VERSION == 1 else 1
    assert main(["data", "styles", "--out", str(tmp_path / "styles-other"), "--images", "2", "--resolution", "32",
                 "--style", "toon", "--synthfaces-version", str(other), "--quiet"]) == 0
    assert synthfaces_version(tmp_path / "styles" / "toon") == DEFAULT_VERSION
    assert synthfaces_version(tmp_path / "styles-other") == other
    a = np.asarray(Image.open(tmp_path / "styles" / "toon" / "000000.png"))
    b = np.asarray(Image.open(tmp_path / "styles-other" / "000000.png"))
    assert a.shape == b.shape and not np.array_equal(a, b)


def test_console_script_runs(tmp_path):
    exe = Path(sys.executable).with_name("styleinv")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "styleinv_lib.cli"]
    res = subprocess.run(cmd + ["data", "synthfaces", "--out", str(tmp_path / "d"), "--videos", "2", "--frames", "4",
                                "--resolution", "32", "--quiet"], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert res.returncode == 0, res.stderr
    assert "wrote 2 videos" in res.stdout
