"""VideoFolder on a real encoded video (opencv-doc's Megamind.avi: MPEG-4 part 2, 720×528, 270 frames)."""
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

import styleinv_lib as sil

av = pytest.importorskip("av")


@pytest.fixture(scope="module")
def video_dir(real_videos, tmp_path_factory):
    d = tmp_path_factory.mktemp("real")
    shutil.copy(real_videos / "Megamind.avi", d / "megamind.avi")
    return d


def test_real_video_is_indexed_and_inspected(video_dir):
    report = sil.inspect_dataset(video_dir)
    assert report.num_videos == 1 and report.min_length == 270 and not report.bad
    ds = sil.VideoFolder(video_dir, resolution=64, mode="frames")
    assert len(ds) == 270 and ds.frame_size(0) == (528, 720)


def test_real_frames_match_a_direct_decode(video_dir):
    ds = sil.VideoFolder(video_dir, resolution=64, mode="frames")
    with av.open(str(video_dir / "megamind.avi")) as container:
        decoded = [f.to_ndarray(format="rgb24") for _, f in zip(range(41), container.decode(video=0))]
    ours = ds.read_frames(0, [0, 40]).permute(0, 2, 3, 1).numpy().astype(float)
    for k, idx in enumerate([0, 40]):
        img = Image.fromarray(decoded[idx])
        h = img.height
        left = (img.width - h) // 2
        ref = np.asarray(img.crop((left, 0, left + h, h)).resize((64, 64), Image.LANCZOS), dtype=float)
        assert np.abs(ours[k] - ref).mean() < 3, f"frame {idx} differs from PyAV's decode"
    assert np.abs(ours[0] - ours[1]).mean() > 3, "frames 0 and 40 show different moments"


def test_sparse_clips_from_a_real_video(video_dir):
    ds = sil.VideoFolder(video_dir, resolution=32, mode="clips", clip_sampler=sil.SparseClipSampler(max_distance=32))
    clip = ds[0]
    assert clip["frames"].shape == (4, 3, 32, 32) and clip["frames"].dtype == torch.uint8
    ts = clip["timestamps"]
    assert ts[0] == 0 and bool((ts[1:] > ts[:-1]).all()) and ts[-1] <= 32
    direct = ds.read_frames(0, (clip["start"] + ts).tolist())
    assert torch.equal(direct, clip["frames"])


def test_a_truncated_real_video_is_named(video_dir, tmp_path):
    data = (video_dir / "megamind.avi").read_bytes()
    (tmp_path / "cut.avi").write_bytes(data[: len(data) // 20])
    shutil.copy(video_dir / "megamind.avi", tmp_path / "fine.avi")
    with pytest.raises(sil.VideoDataError) as err:
        ds = sil.VideoFolder(tmp_path, resolution=32, mode="clips", clip_sampler=sil.SparseClipSampler())
        ds.read_video(0)
    assert "cut.avi" in str(err.value)
    with pytest.warns(UserWarning, match="skipped 1"):
        ds = sil.VideoFolder(tmp_path, resolution=32, mode="clips", clip_sampler=sil.SparseClipSampler(),
                             skip_bad=True)
    assert [p.name for p in ds.video_paths] == ["fine.avi"]
