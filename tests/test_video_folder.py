"""VideoFolder and friends: layouts, conversion, resize/crop, frame and clip sampling, every error path."""
import json
import pickle
import warnings
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from styleinv_lib.data.video import (
    DenseClipSampler, SparseClipSampler, VideoDataError, VideoFolder, inspect_dataset, to_rgb_array,
    write_video_frames,
)

av = pytest.importorskip("av")


# ---------------------------------------------------------------------------------------------------------------
# Builders: frame k of video v is a flat colour (R=k, G=40*v, B=128), so any mix-up of indices shows


def coded_frames(video: int, length: int, h: int = 8, w: int = 8) -> np.ndarray:
    frames = np.empty((length, h, w, 3), np.uint8)
    frames[..., 0] = np.arange(length, dtype=np.uint8)[:, None, None]
    frames[..., 1] = 40 * video
    frames[..., 2] = 128
    return frames


def make_dataset(root, lengths, h=8, w=8):
    for v, n in enumerate(lengths):
        write_video_frames(coded_frames(v, n, h, w), root / f"{v:06d}")
    return root


def smooth_frames(n=24, size=32) -> np.ndarray:
    """A moving gradient: compresses well, so lossy decoding stays close."""
    y, x = np.mgrid[:size, :size]
    k = np.arange(n)[:, None, None]
    return np.stack([(x * 6 + k * 3) % 256 + 0 * k, np.broadcast_to(y * 6, (n, size, size)),
                     np.full((n, size, size), 100)], axis=-1).astype(np.uint8)


def write_mp4(path, frames, faststart=False):
    container = av.open(str(path), "w", options={"movflags": "faststart"} if faststart else {})
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    stream = container.add_stream(codec, rate=24)
    stream.height, stream.width = frames.shape[1:3]
    stream.pix_fmt = "yuv420p"
    if codec == "libx264":
        stream.options = {"crf": "10"}
    for frame in frames:
        container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
    container.mux(stream.encode())
    container.close()
    return path


def truncate(src, dst, keep=0.6):
    data = src.read_bytes()
    dst.write_bytes(data[:int(len(data) * keep)])
    return dst


@pytest.fixture(scope="module")
def clip_root(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("clips"), [40, 33, 60])


@pytest.fixture(scope="module")
def mp4_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("mp4s")
    frames = smooth_frames()
    write_mp4(root / "a.mp4", frames)
    write_mp4(root / "b.mp4", frames[::-1].copy(), faststart=True)
    return root, frames


# ---------------------------------------------------------------------------------------------------------------
# Writing


def test_write_video_frames_round_trip_and_validation(tmp_path):
    frames = np.random.default_rng(0).integers(0, 256, (5, 6, 10, 3), dtype=np.uint8)
    paths = write_video_frames(frames, tmp_path / "new" / "v")
    assert [p.name for p in paths] == [f"{k:06d}.png" for k in range(5)]
    for p, f in zip(paths, frames):
        np.testing.assert_array_equal(np.asarray(Image.open(p)), f)
    # tensors too; a shorter rewrite leaves exactly the new frames and no temp files
    write_video_frames(torch.from_numpy(frames[:2]), tmp_path / "new" / "v")
    assert sorted(p.name for p in (tmp_path / "new" / "v").iterdir()) == ["000000.png", "000001.png"]
    with pytest.raises(ValueError, match="T, H, W, 3"):
        write_video_frames(frames[0], tmp_path / "bad")
    with pytest.raises(ValueError, match="uint8"):
        write_video_frames(frames.astype(np.float32), tmp_path / "bad")
    smooth = smooth_frames(2, 16)
    jpgs = write_video_frames(smooth, tmp_path / "jpg", ext="jpg")
    assert jpgs[0].suffix == ".jpg" and np.abs(np.asarray(Image.open(jpgs[0])).astype(int) - smooth[0]).mean() < 4


# ---------------------------------------------------------------------------------------------------------------
# Discovery and frame mode


def test_natural_sort_of_frames_and_videos(tmp_path):
    for v in ("v10", "v2", "v1"):
        for k in (10, 2, 1, 33):
            Image.fromarray(np.full((4, 4, 3), k, np.uint8)).save(_mkdir(tmp_path / v) / f"frame_{k}.png")
    ds = VideoFolder(tmp_path, 4)
    assert [p.name for p in ds.video_paths] == ["v1", "v2", "v10"]
    assert ds.read_video(0)[:, 0, 0, 0].tolist() == [1, 2, 10, 33]


def _mkdir(path):
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_frames_mode_contract(tmp_path):
    root = make_dataset(tmp_path / "ds", [5, 7])
    (root / "metadata.json").write_text("{}")
    (root / ".DS_Store").write_bytes(b"junk")
    (root / "notes.txt").write_text("ignored")
    ds = VideoFolder(root, 8)
    assert len(ds) == 12 and ds.num_videos == 2 and ds.lengths == [5, 7] and ds.num_frames(1) == 7
    item = ds[6]
    assert item["video"] == 1 and item["frame"] == 1
    assert item["image"].shape == (3, 8, 8) and item["image"].dtype == torch.uint8
    assert item["image"][:, 3, 3].tolist() == [1, 40, 128]
    assert ds[-1]["frame"] == 6 and ds[-1]["video"] == 1
    with pytest.raises(IndexError):
        ds[12]
    f = VideoFolder(root, 8, return_uint8=False)[6]["image"]
    assert f.dtype == torch.float32 and -1 <= f.min() and f.max() <= 1
    torch.testing.assert_close(f, item["image"].float() / 127.5 - 1)
    assert ds.read_frames(1, [6, 0, 6])[:, 0, 0, 0].tolist() == [6, 0, 6]
    with pytest.raises(IndexError, match="out of range"):
        ds.read_frames(0, [5])


def test_single_folder_of_frames_is_one_video(tmp_path):
    frames = coded_frames(0, 12)
    for k in range(12):
        Image.fromarray(frames[k]).save(_mkdir(tmp_path / "only") / f"img{k}.png")
    ds = VideoFolder(tmp_path / "only", 8)
    assert ds.num_videos == 1 and len(ds) == 12 and ds.video_paths == [tmp_path / "only"]
    assert ds.read_video(0)[:, 0, 0, 0].tolist() == list(range(12)), "img10 comes after img9"


# ---------------------------------------------------------------------------------------------------------------
# Samplers


def test_sparse_sampler_compact_contract():
    s = SparseClipSampler()
    assert s.required_length == 33
    rng = np.random.default_rng(0)
    draws = [s(rng, 50) for _ in range(3000)]
    ts = np.stack([t for _, t in draws])
    starts = np.array([st for st, _ in draws])
    assert ts.dtype == np.int64 and ts.shape == (3000, 4)
    assert (ts[:, 0] == 0).all() and (np.diff(ts, axis=1) > 0).all() and (ts[:, 3] <= 32).all()
    assert set(ts[:, 3]) == set(range(3, 33)), "t3 covers every allowed value"
    assert (starts >= 0).all() and (starts + ts[:, 3] <= 49).all()
    assert starts.max() == 49 - 3 and starts.min() == 0, "the start reaches both ends of where the clip fits"
    assert {1, 2} <= set(ts[:, 1]) and ts[:, 2].max() == 31
    with pytest.raises(ValueError):
        s(rng, 20)  # shorter than the clip
    with pytest.raises(ValueError):
        SparseClipSampler(max_distance=2)
    assert SparseClipSampler(num_frames=3, max_distance=5).timestamps(rng).shape == (3,)


def test_sparse_sampler_official_scheme():
    s = SparseClipSampler(scheme="official")
    assert s.required_length == 128
    rng = np.random.default_rng(1)
    ts = np.stack([s(rng, 128)[1] for _ in range(2000)])
    assert (ts[:, 0] == 0).all() and (np.diff(ts, axis=1) >= 0).all() and (np.diff(ts[:, 1:], axis=1) > 0).all()
    assert set(ts[:, 3] - ts[:, 1]) == {2, 4, 8, 16, 32}
    assert ts[:, 3].max() <= 127 and ts[:, 3].max() > 100 and (ts[:, 1] == 0).any()


def test_dense_sampler():
    s = DenseClipSampler(6, stride=2)
    assert s.required_length == 11
    start, ts = s(np.random.default_rng(0), 11)
    assert start == 0 and ts.tolist() == [0, 2, 4, 6, 8, 10]
    with pytest.raises(ValueError):
        DenseClipSampler(0)


# ---------------------------------------------------------------------------------------------------------------
# Clip mode


def _clip_key(item):
    return item["start"], tuple(item["timestamps"].tolist())


def test_clip_mode_contract(clip_root):
    ds = VideoFolder(clip_root, 8, mode="clips")
    assert len(ds) == 3
    for i in range(3):
        item = ds[i]
        ts, start = item["timestamps"], item["start"]
        assert item["video"] == i and item["frames"].shape == (4, 3, 8, 8) and item["frames"].dtype == torch.uint8
        assert ts.dtype == torch.int64 and ts[0] == 0 and (ts.diff() > 0).all() and ts[-1] <= 32
        assert 0 <= start and start + ts[-1] < ds.num_frames(i)
        # the frames are those at start + t: by content (R = frame index) and against read_video
        assert item["frames"][:, 0, 0, 0].tolist() == (start + ts).tolist()
        assert (item["frames"][:, 1] == 40 * i).all()
        torch.testing.assert_close(item["frames"], ds.read_video(i)[start + ts])
    f = VideoFolder(clip_root, 8, mode="clips", return_uint8=False)[0]["frames"]
    assert f.dtype == torch.float32 and f.min() >= -1 and f.max() <= 1


def test_clip_sampling_is_deterministic_per_seed_epoch_index(clip_root):
    a = VideoFolder(clip_root, 8, mode="clips", seed=3)
    b = VideoFolder(clip_root, 8, mode="clips", seed=3)
    keys = [_clip_key(a[i]) for i in range(3)]
    assert keys == [_clip_key(b[i]) for i in range(3)] == [_clip_key(a[i]) for i in range(3)]
    a.set_epoch(1)
    assert [_clip_key(a[i]) for i in range(3)] != keys
    a.set_epoch(0)
    assert [_clip_key(a[i]) for i in range(3)] == keys
    c = VideoFolder(clip_root, 8, mode="clips", seed=4)
    assert [_clip_key(c[i]) for i in range(3)] != keys
    # DataLoader workers draw the same clips as the main process
    loader = torch.utils.data.DataLoader(a, batch_size=None, num_workers=2)
    assert [_clip_key(x) for x in loader] == keys


def test_dense_clips_are_consecutive(clip_root):
    ds = VideoFolder(clip_root, 8, mode="clips", clip_sampler=DenseClipSampler(16))
    item = ds[1]
    assert item["frames"].shape == (16, 3, 8, 8)
    assert item["frames"][:, 0, 0, 0].tolist() == list(range(item["start"], item["start"] + 16))


# ---------------------------------------------------------------------------------------------------------------
# Conversion, resize and crop


def test_resize_and_centre_crop_landscape_and_portrait(tmp_path):
    # 96 wide × 48 tall: red | (black top / white bottom) | blue; the centre square is the middle 48 columns
    img = np.zeros((48, 96, 3), np.uint8)
    img[:, :24] = (255, 0, 0)
    img[:, 72:] = (0, 0, 255)
    img[24:, 24:72] = 255
    write_video_frames(img[None], tmp_path / "land" / "v")
    write_video_frames(img.transpose(1, 0, 2)[None].copy(), tmp_path / "port" / "v")  # 48 wide × 96 tall
    out = VideoFolder(tmp_path / "land", 24)[0]["image"].int()
    assert out.shape == (3, 24, 24)
    assert out[:, 1:11, 1:23].max() <= 3 and out[:, 13:23, 1:23].min() >= 252, "top black, bottom white"
    assert out[0, 1:11, 0].max() < 40 and out[2, 1:11, -1].max() < 40, "only a faint Lanczos tail of the bands"
    out = VideoFolder(tmp_path / "port", 24)[0]["image"].int()  # transposed: left black, right white
    assert out[:, 1:23, 1:11].max() <= 3 and out[:, 1:23, 13:23].min() >= 252


def test_rgb_conversions_in_memory():
    gray = Image.fromarray(np.array([[0, 100], [200, 255]], np.uint8))
    np.testing.assert_array_equal(to_rgb_array(gray)[..., 2], np.asarray(gray))
    rgba = Image.fromarray(np.array([[[200, 100, 50, 128], [10, 20, 30, 0]]], np.uint8), "RGBA")
    assert to_rgb_array(rgba).tolist() == [[[100, 50, 25], [0, 0, 0]]], "composited over black"
    la = Image.fromarray(np.array([[[200, 255], [200, 51]]], np.uint8), "LA")
    assert to_rgb_array(la).tolist() == [[[200] * 3, [40] * 3]]
    p = Image.new("P", (2, 1))
    p.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    p.putdata([0, 1])
    p.info["transparency"] = 0
    assert to_rgb_array(p).tolist() == [[[0, 0, 0], [0, 255, 0]]]
    i16 = Image.fromarray(np.array([[65535, 32896, 1000, 0]], np.uint16))
    assert to_rgb_array(i16)[0, :, 0].tolist() == [255, 128, 4, 0]
    i32 = Image.fromarray(np.array([[65535, 32896, 1000, 0]], np.int32), "I")
    assert to_rgb_array(i32)[0, :, 1].tolist() == [255, 128, 4, 0]


def test_rgb_conversions_from_files(tmp_path):
    values16 = np.array([[65535, 32896], [1000, 0]], np.uint16)
    _mkdir(tmp_path / "d" / "v16")
    Image.fromarray(values16).save(tmp_path / "d" / "v16" / "0.png")
    assert Image.open(tmp_path / "d" / "v16" / "0.png").mode in ("I;16", "I")
    _mkdir(tmp_path / "d" / "vrgba")
    Image.fromarray(np.full((2, 2, 4), (200, 100, 50, 128), np.uint8), "RGBA").save(tmp_path / "d" / "vrgba" / "0.png")
    _mkdir(tmp_path / "d" / "vl")
    Image.fromarray(np.full((2, 2), 77, np.uint8)).save(tmp_path / "d" / "vl" / "0.jpg", quality=100)
    ds = VideoFolder(tmp_path / "d", 2)
    by_name = {p.name: i for i, p in enumerate(ds.video_paths)}
    v16 = ds.read_video(by_name["v16"])[0]
    assert v16[0].tolist() == [[255, 128], [4, 0]] and (v16[0] == v16[2]).all()
    assert ds.read_video(by_name["vrgba"])[0, :, 0, 0].tolist() == [100, 50, 25]
    assert (ds.read_video(by_name["vl"]) - 77).abs().max() <= 1


# ---------------------------------------------------------------------------------------------------------------
# Error paths


def test_missing_and_empty_roots(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        VideoFolder(tmp_path / "nowhere", 8)
    _mkdir(tmp_path / "empty")
    (tmp_path / "empty" / "metadata.json").write_text("{}")
    with pytest.raises(VideoDataError, match="no videos found") as err:
        VideoFolder(tmp_path / "empty", 8)
    assert err.value.path == str(tmp_path / "empty")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(VideoDataError, match="neither a folder"):
        VideoFolder(tmp_path / "file.txt", 8)
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    with pytest.raises(VideoDataError, match="bad.zip: is not a readable zip"):
        VideoFolder(tmp_path / "bad.zip", 8)


def test_empty_video_folder_is_named(tmp_path):
    make_dataset(tmp_path, [3, 3])
    _mkdir(tmp_path / "000001b")
    with pytest.raises(VideoDataError, match="has no frames") as err:
        VideoFolder(tmp_path, 8)
    assert err.value.path == str(tmp_path / "000001b")
    assert str(err.value) == f"{err.value.path}: {err.value.problem}"


def test_too_short_videos(tmp_path):
    make_dataset(tmp_path, [40, 10])
    with pytest.raises(VideoDataError) as err:
        VideoFolder(tmp_path, 8, mode="clips")
    assert err.value.path.endswith("000001") and err.value.problem == "has 10 frames, the clip needs 33"
    with pytest.raises(VideoDataError, match="000001: has 10 frames, fewer than min_frames=11"):
        VideoFolder(tmp_path, 8, min_frames=11)
    with pytest.raises(VideoDataError, match="has 40 frames, fewer than min_frames=50"):
        VideoFolder(tmp_path, 8, mode="clips", min_frames=50)
    assert VideoFolder(tmp_path, 8, mode="clips", clip_sampler=DenseClipSampler(10)).num_videos == 2


def test_mixed_sizes_names_first_mismatch(tmp_path):
    make_dataset(tmp_path, [4])
    Image.fromarray(np.zeros((8, 9, 3), np.uint8)).save(tmp_path / "000000" / "000002.png")
    Image.fromarray(np.zeros((7, 8, 3), np.uint8)).save(tmp_path / "000000" / "000003.png")
    with pytest.raises(VideoDataError, match=r"000002\.png: frame size 9×8 differs from 8×8") as err:
        VideoFolder(tmp_path, 8)
    assert err.value.path == str(tmp_path / "000000" / "000002.png")


def test_corrupt_png_at_construction_and_truncated_png_at_read(tmp_path):
    make_dataset(tmp_path, [4])
    (tmp_path / "000000" / "000001.png").write_bytes(b"\x89PNG garbage" + bytes(50))
    with pytest.raises(VideoDataError, match="unreadable image") as err:
        VideoFolder(tmp_path, 8)
    assert err.value.path == str(tmp_path / "000000" / "000001.png")
    # a valid header with the pixel data cut off passes the cheap checks but fails, named, when read
    noisy = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    write_video_frames(np.stack([noisy] * 4), tmp_path / "000000")
    truncate(tmp_path / "000000" / "000002.png", tmp_path / "000000" / "000002.png", keep=0.5)
    ds = VideoFolder(tmp_path, 8)
    ds[1]
    with pytest.raises(VideoDataError, match="cannot decode frame") as err:
        ds[2]
    assert err.value.path == str(tmp_path / "000000" / "000002.png")


def test_corrupt_and_truncated_mp4(tmp_path, mp4_dir):
    src, _ = mp4_dir
    root = _mkdir(tmp_path / "vids")
    truncate(src / "a.mp4", root / "cut.mp4")  # moov atom at the end: no longer opens
    (root / "garbage.mp4").write_bytes(np.random.default_rng(0).bytes(3000))
    truncate(src / "b.mp4", root / "faststart_cut.mp4")  # header intact, packets missing
    for name, problem in [("cut.mp4", "unreadable video|no video stream"), ("garbage.mp4", "unreadable video"),
                          ("faststart_cut.mp4", r"is truncated: its frames stop at 0\.04 s of a 1\.00 s stream \(1 frame present\)")]:
        with pytest.raises(VideoDataError, match=problem) as err:
            VideoFolder(root / name, 16)
        assert err.value.path == str(root / name)
    report = inspect_dataset(root)
    assert report.num_videos == 0 and sorted(p.rsplit("/", 1)[-1] for p, _ in report.bad) == [
        "cut.mp4", "faststart_cut.mp4", "garbage.mp4"]


def test_loose_frames_next_to_video_folders(tmp_path):
    make_dataset(tmp_path, [3])
    write_video_frames(coded_frames(0, 2), tmp_path)
    with pytest.raises(VideoDataError, match="loose frame images"):
        VideoFolder(tmp_path, 8)


def test_skip_bad_reports_and_warns_once(tmp_path):
    make_dataset(tmp_path, [40, 40, 10, 40])
    (tmp_path / "000003" / "000005.png").write_bytes(b"broken")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = VideoFolder(tmp_path, 8, mode="clips", skip_bad=True)
    assert len(caught) == 1 and "skipped 2 bad video(s) of 4" in str(caught[0].message)
    assert "000002: has 10 frames, the clip needs 33" in str(caught[0].message)
    assert ds.num_videos == 2 and [p.name for p in ds.video_paths] == ["000000", "000001"]
    assert [(p.rsplit("/", 1)[-1], prob.split(" (")[0]) for p, prob in ds.skipped] == [
        ("000002", "has 10 frames, the clip needs 33"), ("000005.png", "unreadable image")]
    with pytest.raises(VideoDataError, match="all 4 videos are unusable"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        VideoFolder(tmp_path, 8, min_frames=100, skip_bad=True)


def test_video_data_error_is_a_value_error_and_pickles():
    err = VideoDataError("a/b.png", "broken")
    assert isinstance(err, ValueError) and str(err) == "a/b.png: broken"
    back = pickle.loads(pickle.dumps(err))
    assert (back.path, back.problem, str(back)) == ("a/b.png", "broken", "a/b.png: broken")


# ---------------------------------------------------------------------------------------------------------------
# Zip and video files


def test_zip_of_frame_folders_equals_the_folder(tmp_path):
    root = make_dataset(tmp_path / "ds", [5, 3, 6], h=8, w=12)
    (root / "metadata.json").write_text(json.dumps({"dataset": "test", "num_videos": 3}))
    for name in ("flat.zip", "wrapped.zip"):
        with zipfile.ZipFile(tmp_path / name, "w") as zf:
            prefix = "" if name == "flat.zip" else "ds/"
            for path in sorted(root.rglob("*")):
                if path.is_file():
                    zf.write(path, prefix + path.relative_to(root).as_posix())
            zf.writestr("__MACOSX/ds/._000000", b"junk")
            zf.writestr(prefix + ".hidden", b"junk")
    plain = VideoFolder(root, 8)
    for name in ("flat.zip", "wrapped.zip"):
        zipped = VideoFolder(tmp_path / name, 8)
        assert zipped.kind == "zip" and zipped.lengths == plain.lengths == [5, 3, 6]
        for i in range(3):
            assert torch.equal(zipped.read_video(i), plain.read_video(i))
        assert torch.equal(zipped[7]["image"], plain[7]["image"])
        report = inspect_dataset(tmp_path / name)
        assert report.kind == "zip" and report.metadata == {"dataset": "test", "num_videos": 3}
        assert report.num_frames_total == 14 and report.frame_size == (8, 12)
    # a zipped dataset survives pickling into worker processes
    clips = VideoFolder(tmp_path / "wrapped.zip", 8, mode="clips", clip_sampler=DenseClipSampler(3))
    again = pickle.loads(pickle.dumps(clips))
    assert torch.equal(again[2]["frames"], clips[2]["frames"])


def test_mp4_decoding_matches_written_frames(mp4_dir, tmp_path):
    root, frames = mp4_dir
    ds = VideoFolder(root, 32)
    assert ds.kind == "video files" and ds.lengths == [24, 24] and len(ds) == 48
    video = ds.read_video(0).permute(0, 2, 3, 1).int()
    assert video.shape == (24, 32, 32, 3)
    assert (video - torch.from_numpy(frames).int()).abs().float().mean() < 6
    reversed_ = ds.read_video(1).permute(0, 2, 3, 1).int()
    assert (reversed_ - torch.from_numpy(frames[::-1].copy()).int()).abs().float().mean() < 6
    assert torch.equal(ds[24 + 5]["image"], ds.read_video(1)[5])
    clips = VideoFolder(root, 16, mode="clips", clip_sampler=SparseClipSampler(max_distance=20))
    item = clips[0]
    assert item["frames"].shape == (4, 3, 16, 16)
    torch.testing.assert_close(item["frames"], clips.read_video(0)[item["start"] + item["timestamps"]])
    # Matroska has no frame count in its header: frames are counted by decoding
    write_mp4(_mkdir(tmp_path / "mkv") / "x.mkv", frames[:10].copy())
    with av.open(str(tmp_path / "mkv" / "x.mkv")) as c:
        assert c.streams.video[0].frames == 0
    mkv = VideoFolder(tmp_path / "mkv", 32)
    assert mkv.lengths == [10] and (mkv.read_video(0).int() - ds.read_video(0)[:10].int()).abs().float().mean() < 6
    # a zip of mp4s is read through a lazily extracted copy
    with zipfile.ZipFile(tmp_path / "v.zip", "w") as zf:
        zf.write(root / "a.mp4", "a.mp4")
    assert torch.equal(VideoFolder(tmp_path / "v.zip", 32).read_video(0), ds.read_video(0))


# ---------------------------------------------------------------------------------------------------------------
# inspect


def test_inspect_dataset_counts_and_lists_bad(tmp_path):
    root = make_dataset(tmp_path, [5, 7, 3])
    write_video_frames(coded_frames(3, 2, h=6, w=10), tmp_path / "000003")
    _mkdir(tmp_path / "000004")
    (tmp_path / "000002" / "000001.png").write_bytes(b"nope")
    (root / "metadata.json").write_text(json.dumps({"dataset": "SynthFaces", "seed": 0, "videos": [1, 2]}))
    report = inspect_dataset(root)
    assert report.num_videos == 3 and report.lengths == [5, 7, 2] and report.num_frames_total == 14
    assert (report.min_length, report.max_length) == (2, 7)
    assert report.frame_size == {(8, 8), (6, 10)} and report.kind == "frame folders"
    assert [p for p, _ in report.bad] == [str(root / "000002" / "000001.png"), str(root / "000004")]
    assert report.metadata["dataset"] == "SynthFaces"
    text = report.format()
    for needle in ("3 readable, 2 bad", "14 in total", "min 2", "max 7", "dataset=SynthFaces", "000004: has no frames",
                   "mixed"):
        assert needle in text
    clean = inspect_dataset(make_dataset(tmp_path / "clean", [4, 4]))
    assert clean.bad == [] and clean.frame_size == (8, 8) and clean.metadata is None
    assert "4 per video" in clean.format() and "8×8" in clean.format()


# ---------------------------------------------------------------------------------------------------------------
# Deep checks, skipping bad videos during training, variable-frame-rate files


def write_vfr_avi(path, num_frames=68, ticks=444, fps=15, seed=0):
    """A variable-frame-rate AVI as cameras and screen recorders write them: ``num_frames`` real frames spread
    over ``ticks`` slots of the nominal rate; the AVI index lists every slot, the empty ones as drop frames."""
    from fractions import Fraction

    rng = np.random.default_rng(seed)
    pts = np.concatenate([[0], np.sort(rng.choice(np.arange(1, ticks - 4), num_frames - 2, replace=False)),
                          [ticks - 4]])
    with av.open(str(path), "w") as container:
        stream = container.add_stream("cinepak", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 32, 24, "rgb24"
        stream.codec_context.time_base = Fraction(1, fps)
        for i, t in enumerate(pts):
            img = np.zeros((24, 32, 3), np.uint8)
            img[:, i % 32] = 255                           # a bar that walks one column per real frame
            img[..., 1] = 3 * i
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = int(t), Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def test_a_variable_frame_rate_avi_counts_its_decodable_frames(tmp_path):
    root = _mkdir(tmp_path / "vfr")
    write_vfr_avi(root / "screen.avi")
    with av.open(str(root / "screen.avi")) as c:
        assert c.streams.video[0].frames > 400, "the header lists every slot of the nominal rate"
    report = inspect_dataset(root, deep=True)
    assert report.num_videos == 1 and report.min_length == 68 and not report.bad
    ds = VideoFolder(root, 32)
    assert len(ds) == 68
    last = ds.read_frames(0, [67]).permute(0, 2, 3, 1).numpy()[0]
    assert abs(float(last[..., 1].mean()) - 3 * 67) < 8, "the last real frame, not a drop-frame slot"
    # cut in the middle: now it is truncated, and with skip_bad the frames before the cut are used
    data = (root / "screen.avi").read_bytes()
    (root / "screen.avi").write_bytes(data[:len(data) // 2])
    with pytest.raises(VideoDataError, match=r"screen\.avi: is truncated: its frames stop at"):
        VideoFolder(root, 32)
    with pytest.warns(UserWarning, match="1 video.s. end early and are used up to their last frame"):
        ds = VideoFolder(root, 32, skip_bad=True)
    assert 10 < len(ds) < 68 and ds.truncated[0][0].endswith("screen.avi")
    ds.read_frames(0, [len(ds) - 1])


def _stored_zip(root, out):
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as z:
        for f in sorted(root.rglob("*.png")):
            z.write(f, f.relative_to(root).as_posix())
    return out


def test_deep_inspection_finds_what_headers_hide(tmp_path):
    noisy = np.random.default_rng(0).integers(0, 256, (6, 16, 16, 3), dtype=np.uint8)
    folder = _mkdir(tmp_path / "frames")
    for v in range(3):
        write_video_frames(noisy, folder / f"{v:06d}")
    truncate(folder / "000001" / "000004.png", folder / "000001" / "000004.png", keep=0.5)
    shallow = inspect_dataset(folder)
    assert shallow.num_videos == 3 and not shallow.bad, "a PNG cut in its pixel data has a valid header"
    deep = inspect_dataset(folder, deep=True)
    assert deep.num_videos == 2 and [p.rsplit("/", 2)[-2:] for p, _ in deep.bad] == [["000001", "000004.png"]]
    assert "cannot decode frame" in deep.bad[0][1]
    # a zip member whose bytes changed after zipping: its CRC no longer matches
    good = _mkdir(tmp_path / "good")
    large = np.random.default_rng(1).integers(0, 256, (6, 64, 64, 3), dtype=np.uint8)   # larger than one read
    write_video_frames(large, good / "000000")
    write_video_frames(large[::-1].copy(), good / "000001")
    archive = _stored_zip(good, tmp_path / "data.zip")
    raw = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as z:
        info = z.getinfo("000001/000003.png")
    at = info.header_offset + 30 + len(info.filename) + info.file_size - 20     # inside the pixel data
    raw[at] ^= 0xFF
    archive.write_bytes(bytes(raw))
    assert not inspect_dataset(archive).bad
    bad = inspect_dataset(archive, deep=True).bad
    assert len(bad) == 1 and bad[0][0].endswith("000001/000003.png") and "CRC" in bad[0][1]
    # too short for a stage's clips
    report = inspect_dataset(good, min_frames=8, purpose="styleinv clips (smoke profile)")
    assert report.num_videos == 0 and report.bad[0][1] == "has 6 frames; 8 are needed for styleinv clips (smoke profile)"


def test_skip_bad_during_use_names_the_video_once_and_serves_the_next_one(tmp_path):
    noisy = np.random.default_rng(0).integers(0, 256, (4, 8, 8, 3), dtype=np.uint8)
    for v in range(3):
        write_video_frames(noisy + v, tmp_path / f"{v:06d}")
    truncate(tmp_path / "000001" / "000002.png", tmp_path / "000001" / "000002.png", keep=0.5)
    strict = VideoFolder(tmp_path, 8)
    with pytest.raises(VideoDataError, match=r"000001/000002\.png: cannot decode frame"):
        strict[6]
    ds = VideoFolder(tmp_path, 8, skip_bad=True)
    assert ds[5]["video"] == 1, "frames of the video before the failure are still served"
    with pytest.warns(UserWarning, match=r"000002\.png: cannot decode frame .*skipping this video from now on"):
        item = ds[6]
    assert (item["video"], item["frame"]) == (2, 2), "the same place in the next video"
    assert torch.equal(item["image"], strict[10]["image"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")                  # named once: no second warning
        assert ds[4]["video"] == 2 and ds[4]["frame"] == 0
    assert [p.rsplit("/", 1)[-1] for p, _ in ds.skipped] == ["000002.png"]
    fresh = VideoFolder(tmp_path, 8, skip_bad=True)    # another worker, or a resumed run: the same items
    with pytest.warns(UserWarning):
        assert torch.equal(fresh[6]["image"], item["image"])


# ---------------------------------------------------------------------------------------------------------------
# The in-memory cache of decoded frames

def _count_calls(monkeypatch, name):
    import styleinv_lib.data.video as video_module
    calls = []
    real = getattr(video_module, name)

    def counted(*args):
        calls.append(args[-1])
        return real(*args)

    monkeypatch.setattr(video_module, name, counted)
    return calls


def test_the_frame_cache_returns_the_same_bytes_and_decodes_each_frame_once(tmp_path, monkeypatch):
    noisy = np.random.default_rng(1).integers(0, 256, (2, 6, 24, 20, 3), dtype=np.uint8)
    for v in range(2):
        write_video_frames(noisy[v], tmp_path / f"{v:06d}")
    plain = VideoFolder(tmp_path, 16)
    expected = [plain[i]["image"] for i in range(len(plain))]
    loads = _count_calls(monkeypatch, "_load_image")
    cached = VideoFolder(tmp_path, 16, cache_mb=1)
    for epoch in range(3):
        for i in np.random.default_rng(epoch).permutation(len(cached)):
            assert torch.equal(cached[int(i)]["image"], expected[i]), "a cached frame differs from a decoded one"
    assert len(loads) == 12 and len(cached.cache) == 12, "each frame decoded once, in the first epoch only"
    out = cached[3]["image"]
    out.zero_()                                          # a caller changing its batch does not change the cache
    assert torch.equal(cached[3]["image"], expected[3])
    clone = pickle.loads(pickle.dumps(cached))           # a DataLoader worker gets the dataset without the cache
    assert len(clone.cache) == 0 and torch.equal(clone[7]["image"], expected[7])
    loads.clear()
    off = VideoFolder(tmp_path, 16)                      # the default keeps nothing
    off[0], off[0]
    assert len(loads) == 2 and len(off.cache) == 0


def test_the_frame_cache_stays_within_its_budget(tmp_path, monkeypatch):
    make_dataset(tmp_path, [10, 10], h=16, w=16)
    budget_frames = 7                                   # 16×16×3 bytes a frame
    ds = VideoFolder(tmp_path, 16, cache_mb=budget_frames * 16 * 16 * 3 / 2**20)
    loads = _count_calls(monkeypatch, "_load_image")
    for i in range(len(ds)):
        assert ds[i]["image"][0, 0, 0] == i % 10
    assert len(ds.cache) == budget_frames and ds.cache.nbytes <= ds.cache.budget
    for i in range(len(ds)):
        assert ds[i]["image"][0, 0, 0] == i % 10
    assert len(loads) == 20 + (20 - budget_frames), "frames beyond the budget are decoded every time"
    with pytest.raises(ValueError, match="cache_mb must be >= 0"):
        VideoFolder(tmp_path, 16, cache_mb=-1)


def test_the_frame_cache_keeps_the_frames_a_video_file_decodes_on_the_way(mp4_dir, monkeypatch):
    root, _ = mp4_dir
    plain = VideoFolder(root, 16)
    expected = [plain.read_video(0), plain.read_video(1)]
    decodes = _count_calls(monkeypatch, "_decode_file")
    ds = VideoFolder(root, 16, cache_mb=1)
    assert torch.equal(ds.read_frames(0, [9]), expected[0][[9]])
    assert len(ds.cache) == 10, "frames 0-9 were decoded to reach frame 9: all are kept"
    assert torch.equal(ds.read_frames(0, [3, 9, 0]), expected[0][[3, 9, 0]]) and len(decodes) == 1
    assert torch.equal(ds.read_frames(0, [12, 2]), expected[0][[12, 2]])
    assert decodes[-1] == [10, 11, 12] and len(ds.cache) == 13
    assert torch.equal(ds.read_video(1), expected[1]) and len(ds.cache) == 37
