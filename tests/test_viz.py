"""Tests for styleinv_lib.viz: mp4/GIF encoding, the HTML5 video, grids, atomic saving, plotly/matplotlib helpers."""
import base64
import inspect
import io
import os
import re
import sys

import numpy as np
import pytest

from styleinv_lib.viz import plots
from styleinv_lib.viz import video as vv


def smooth_video(t=24, h=48, w=64, seed=0):
    """A smooth, moving colour pattern (what H.264 handles well): uint8 (T, H, W, 3)."""
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 2 * np.pi, size=3)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    frames = []
    for k in range(t):
        chans = [127.5 + 100 * np.sin(2 * np.pi * (xx / w + 0.5 * yy / h) + 0.2 * k + phase[0]),
                 127.5 + 100 * np.cos(2 * np.pi * (yy / h) - 0.15 * k + phase[1]),
                 np.full_like(xx, 60 + 4 * k + 20 * np.sin(phase[2]))]
        frames.append(np.stack(chans, -1))
    return np.clip(np.round(np.stack(frames)), 0, 255).astype(np.uint8)


def decode_mp4(data: bytes) -> np.ndarray:
    av = pytest.importorskip("av")
    with av.open(io.BytesIO(data)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def top_level_boxes(data: bytes):
    pos, kinds = 0, []
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos:pos + 4], "big")
        kinds.append(data[pos + 4:pos + 8])
        pos += size
    return kinds


def no_av(monkeypatch):
    """Make `import av` fail as if PyAV were not installed."""
    monkeypatch.setitem(sys.modules, "av", None)


# ---------------------------------------------------------------------------------------------------------- mp4
def test_encode_mp4_roundtrip_is_close():
    pytest.importorskip("av")
    frames = smooth_video()
    data = vv.encode_mp4(frames, fps=12)
    assert data[4:8] == b"ftyp"
    decoded = decode_mp4(data)
    assert decoded.shape == frames.shape                      # same number of frames and frame size
    err = np.abs(decoded.astype(np.int16) - frames.astype(np.int16)).mean()
    assert err < 8, err


def test_encode_mp4_is_faststart_and_h264():
    av = pytest.importorskip("av")
    data = vv.encode_mp4(smooth_video(t=10), fps=25)
    kinds = top_level_boxes(data)
    assert kinds[0] == b"ftyp" and kinds.index(b"moov") < kinds.index(b"mdat")
    with av.open(io.BytesIO(data)) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "h264"
        assert s.codec_context.pix_fmt == "yuv420p"
        assert s.average_rate == 25
        assert c.duration is not None and abs(c.duration / 1e6 - 10 / 25) < 0.05


def test_encode_mp4_odd_size_and_layouts():
    pytest.importorskip("av")
    torch = pytest.importorskip("torch")
    frames = smooth_video(t=6, h=33, w=47)
    decoded = decode_mp4(vv.encode_mp4(frames))
    assert decoded.shape == (6, 34, 48, 3)                    # padded to even sizes
    assert np.abs(decoded[:, :33, :47].astype(int) - frames).mean() < 8
    # torch, channels first: the same video.  (x264 does not encode the same frames to the same bytes every time,
    # so the layouts are compared where the result is exact, and the decoded videos within x264's own spread: two
    # encodings of the same frames differ by up to ~1 level on average at crf 20.)
    chw = torch.from_numpy(frames).permute(0, 3, 1, 2).contiguous()
    assert np.array_equal(vv.to_uint8_frames(chw), frames)
    again = decode_mp4(vv.encode_mp4(chw))
    assert again.shape == decoded.shape and np.abs(again.astype(int) - decoded).mean() < 3
    assert np.abs(again[:, :33, :47].astype(int) - frames).mean() < 8


def test_rgb_to_yuv420p_is_bt709_limited_range():
    av = pytest.importorskip("av")
    rgb = np.array([[[0, 0, 0], [255, 255, 255]], [[255, 0, 0], [0, 0, 255]]], np.uint8)
    yuv = vv.rgb_to_yuv420p(np.repeat(np.repeat(rgb, 2, 0), 2, 1))     # four 2x2 blocks of one colour each
    y, u, v = yuv[:4], yuv[4:5].reshape(2, 2), yuv[5:6].reshape(2, 2)
    assert y[::2, ::2].tolist() == [[16, 235], [63, 32]]        # black, white, red, blue (BT.709 luma)
    assert u.tolist() == [[128, 128], [102, 240]]               # neutral greys, red pulls U down, blue up to 240
    assert v.tolist() == [[128, 128], [240, 118]]
    # libswscale's BT.709 conversion agrees to within a rounding step on a smooth frame
    from av.video.reformatter import ColorRange, Colorspace
    frame = smooth_video(t=1, h=34, w=48)[0]
    ref = av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(
        format="yuv420p", dst_colorspace=Colorspace.ITU709, dst_color_range=ColorRange.MPEG).to_ndarray()
    ours = vv.rgb_to_yuv420p(frame)
    assert np.abs(ours[:34].astype(int) - ref[:34]).max() <= 1
    assert np.abs(ours[34:].astype(int) - ref[34:]).mean() < 1


def test_rejects_float_frames_with_a_hint():
    with pytest.raises(TypeError, match="uint8"):
        vv.to_uint8_frames(np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(ValueError):
        vv.to_uint8_frames(np.zeros((2, 8, 8, 5), np.uint8))


def test_mp4_needs_av_with_clear_message(monkeypatch):
    no_av(monkeypatch)
    with pytest.raises(ImportError, match=re.escape("pip install styleinv-lib[video]")):
        vv.encode_mp4(smooth_video(t=2))


# --------------------------------------------------------------------------------------------------------- HTML
def test_video_html_embeds_mp4_and_upscales_small_frames():
    pytest.importorskip("av")
    frames = smooth_video(t=8, h=32, w=32)
    page = vv.video_html(frames, fps=8)
    assert "<video" in page and "data:video/mp4;base64," in page
    for attr in ("muted", "playsinline", "autoplay", "loop", "controls", "image-rendering:pixelated"):
        assert attr in page
    b64 = re.search(r'data:video/mp4;base64,([A-Za-z0-9+/=]+)"', page).group(1)
    decoded = decode_mp4(base64.b64decode(b64))
    assert decoded.shape == (8, 256, 256, 3)                  # 32 px shown >= 256 px wide, nearest-neighbour
    assert 'width="256"' in page
    # no upscaling when asked, and a CSS width of its own
    page = vv.video_html(frames, upscale=1, width=300, autoplay=False, controls=False)
    b64 = re.search(r'base64,([A-Za-z0-9+/=]+)"', page).group(1)
    assert decode_mp4(base64.b64decode(b64)).shape == (8, 32, 32, 3)
    assert "width:300px" in page and "autoplay" not in page and "controls" not in page


def test_video_html_leaves_out_controls_that_would_cover_a_short_video():
    pytest.importorskip("av")
    frames = smooth_video(t=4, h=32, w=128)                   # a strip of four 32² clips
    short = vv.video_html(frames, width=480)                   # shown 120 px tall
    assert " controls" not in short and "onclick=" in short and "click to pause" in short
    tall = vv.video_html(frames[:, :, :64], width=320)        # 160 px tall: room for the controls
    assert " controls" in tall and "onclick=" not in tall


def test_difference_from_first_shows_only_what_changed():
    video = np.full((3, 8, 8, 3), 100, np.uint8)
    video[1, 2:4, 2:4] = 110                                   # +10 in a 2x2 patch at t = 1
    video[2, :, :, 0] = 40                                     # -60 in one channel everywhere at t = 2
    diff = vv.difference_from_first(video, gain=4)
    assert diff.shape == video.shape and diff.dtype == np.uint8
    assert not diff[0].any()                                    # frame 0 against itself: black
    assert (diff[1, 2:4, 2:4] == 40).all() and diff[1].sum() == 40 * 4 * 3
    assert (diff[2] == 80).all()                                # |-60| / 3 channels x 4
    assert (vv.difference_from_first(video, gain=20)[2] == 255).all()   # clipped, not wrapped
    with pytest.raises(ValueError, match="gain"):
        vv.difference_from_first(video, gain=0)


def test_frame_slider_figure_has_a_frame_per_value_and_keeps_buttons_off_the_readout():
    images = [np.full((20, 30, 3), 40 * k, np.uint8) for k in range(4)]
    fig = plots.frame_slider_figure(images, [0, 3, 6, 9], title="t")
    assert len(fig.frames) == 4 and [s.label for s in fig.layout.sliders[0].steps] == ["0", "3", "6", "9"]
    assert fig.frames[2].data[0].source.startswith("data:image/png;base64,")
    assert fig.frames[2].data[0].source != fig.frames[1].data[0].source
    menu, slider = fig.layout.updatemenus[0], fig.layout.sliders[0]
    assert menu.xanchor == "left" and slider.x >= 0.1            # buttons left of the rail
    assert slider.currentvalue.xanchor == "right"               # readout at the far end
    with pytest.raises(ValueError, match="one value per image"):
        plots.frame_slider_figure(images, [0, 1], title="t")


def test_show_video_returns_ipython_html():
    pytest.importorskip("av")
    obj = vv.show_video(smooth_video(t=4, h=16, w=16), fps=4)
    assert "data:video/mp4;base64," in obj._repr_html_()


def test_gif_fallback_without_av(monkeypatch):
    from PIL import Image

    no_av(monkeypatch)
    frames = smooth_video(t=5, h=16, w=24)
    page = vv.video_html(frames, fps=5, upscale=2)
    assert page.startswith("<img") and "data:image/gif;base64," in page and "<video" not in page
    gif = base64.b64decode(re.search(r"base64,([A-Za-z0-9+/=]+)\"", page).group(1))
    im = Image.open(io.BytesIO(gif))
    assert im.format == "GIF" and im.n_frames == 5 and im.size == (48, 32)


def test_encode_gif_decodes():
    from PIL import Image

    frames = smooth_video(t=6, h=20, w=30)
    im = Image.open(io.BytesIO(vv.encode_gif(frames, fps=10)))
    assert im.n_frames == 6 and im.size == (30, 20)
    assert im.info.get("loop") == 0 and im.info.get("duration") == 100
    im.seek(3)
    err = np.abs(np.asarray(im.convert("RGB")).astype(int) - frames[3]).mean()
    assert err < 12, err                                       # 256-colour palette: coarse, but the same picture


# -------------------------------------------------------------------------------------------------------- grids
def constant_videos(n, t=3, h=5, w=7):
    """Video i is filled with the value 10 * (i + 1) in every pixel (and frame k adds k), so tiles are findable."""
    return [np.stack([np.full((h, w, 3), 10 * (i + 1) + k, np.uint8) for k in range(t)]) for i in range(n)]


def test_video_grid_layout_and_contents():
    vids = constant_videos(5)
    grid = vv.video_grid(vids, nrow=3)
    t, h, w = 3, 5, 7
    assert grid.shape == (t, 2 * h + 2, 3 * w + 2 * 2, 3) and grid.dtype == np.uint8
    for i in range(5):
        r, c = divmod(i, 3)
        y, x = r * (h + 2), c * (w + 2)
        for k in range(t):
            assert (grid[k, y:y + h, x:x + w] == 10 * (i + 1) + k).all()
    assert (grid[:, h:h + 2] == 255).all()                    # 2 px horizontal gap
    assert (grid[:, :, w:w + 2] == 255).all()                 # 2 px vertical gap
    assert (grid[:, h + 2:, 2 * (w + 2):] == 255).all()       # the empty sixth slot
    # default: all in one row; a 5-D array is accepted too
    assert vv.video_grid(np.stack(vids)).shape == (t, h, 5 * w + 4 * 2, 3)


def test_video_grid_needs_equal_videos():
    a, b = constant_videos(2)
    with pytest.raises(ValueError, match="same length"):
        vv.video_grid([a, b[:2]])


def test_frame_grid_layout_and_torch_input():
    torch = pytest.importorskip("torch")
    images = np.stack([v[0] for v in constant_videos(4, h=6, w=4)])          # (4, 6, 4, 3)
    grid = vv.frame_grid(images, nrow=2)
    assert grid.shape == (2 * 6 + 2, 2 * 4 + 2, 3)
    assert (grid[:6, :4] == 10).all() and (grid[:6, 6:] == 20).all()
    assert (grid[8:, :4] == 30).all() and (grid[8:, 6:] == 40).all()
    assert (grid[6:8] == 255).all() and (grid[:, 4:6] == 255).all()
    chw = torch.from_numpy(images).permute(0, 3, 1, 2)
    assert np.array_equal(vv.frame_grid(chw, nrow=2), grid)


# -------------------------------------------------------------------------------------------------------- files
@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_save_video_is_atomic(tmp_path, suffix):
    if suffix == ".mp4":
        pytest.importorskip("av")
    frames = smooth_video(t=6, h=16, w=16)
    path = tmp_path / "sub" / f"clip{suffix}"
    assert vv.save_video(frames, path, fps=6) == path
    assert os.listdir(path.parent) == [path.name]             # no temporary file left behind
    first = path.read_bytes()
    assert first[:4] == b"GIF8" if suffix == ".gif" else first[4:8] == b"ftyp"
    vv.save_video(frames[::-1], path, fps=6)                  # overwrite in place
    assert os.listdir(path.parent) == [path.name] and path.read_bytes() != first


def test_save_video_failure_keeps_old_file(tmp_path, monkeypatch):
    frames = smooth_video(t=3, h=8, w=8)
    path = tmp_path / "clip.gif"
    vv.save_video(frames, path)
    before = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk went away")

    monkeypatch.setattr(vv.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk went away"):
        vv.save_video(frames[::-1], path)
    assert os.listdir(tmp_path) == ["clip.gif"] and path.read_bytes() == before
    with pytest.raises(ValueError, match="mp4 or .gif"):
        vv.save_video(frames, tmp_path / "clip.avi")
    assert os.listdir(tmp_path) == ["clip.gif"]


# -------------------------------------------------------------------------------------------------------- plots
def test_setup_plotly_embeds_no_requirejs_or_cdn(monkeypatch):
    pytest.importorskip("plotly")
    import plotly.graph_objects as go
    import plotly.io as pio

    monkeypatch.setattr(pio.renderers, "default", pio.renderers.default)   # restored after the test
    assert plots.setup_plotly() == "plotly_mimetype+styleinv_book"
    bundle = pio.renderers._build_mime_bundle(go.Figure(go.Scatter(y=[1, 3, 2])).to_dict())
    assert set(bundle) == {"application/vnd.plotly.v1+json", "text/html"}
    page = bundle["text/html"]
    assert "Plotly.newPlot" in page and "plotly-graph-div" in page
    assert "require(" not in page and "cdn" not in page.lower() and "<script src" not in page
    assert plots.plotly_js_path().stat().st_size > 1_000_000


def test_copy_plotly_js(tmp_path):
    pytest.importorskip("plotly")
    dest = plots.copy_plotly_js(tmp_path / "_static")
    assert dest.read_bytes() == plots.plotly_js_path().read_bytes()
    assert plots.copy_plotly_js(tmp_path / "_static") == dest   # idempotent


def test_image_grid_figure():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = np.stack([v[0] for v in constant_videos(5, h=8, w=8)])
    fig = plots.image_grid_figure(images, nrow=3, titles=[f"#{i}" for i in range(5)], title="five")
    shown = [ax for ax in fig.axes if ax.images]
    assert len(fig.axes) == 6 and len(shown) == 5
    assert [ax.get_title() for ax in shown] == [f"#{i}" for i in range(5)]
    assert np.array_equal(shown[4].images[0].get_array(), images[4])
    plt.close(fig)
    # floats in [0, 1] and a single image are accepted
    fig = plots.image_grid_figure(np.ones((8, 8, 3), np.float32))
    assert np.asarray(fig.axes[0].images[0].get_array()).max() == 255
    plt.close(fig)
    with pytest.raises(ValueError, match="titles"):
        plots.image_grid_figure(images, titles=["a"])


def test_drop_redundant_plotly_json_keeps_html_and_lone_json():
    import json

    both = {"output_type": "display_data", "metadata": {},
            "data": {plots.PLOTLY_MIMETYPE: {"data": []}, "text/html": "<div></div>"}}
    lone = {"output_type": "display_data", "metadata": {}, "data": {plots.PLOTLY_MIMETYPE: {"data": []}}}
    nb = {"cells": [{"cell_type": "code", "source": "", "metadata": {}, "outputs": [both, lone]},
                    {"cell_type": "markdown", "source": "text", "metadata": {}}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    out = json.loads(plots.drop_redundant_plotly_json(json.dumps(nb)))
    first, second = out["cells"][0]["outputs"]
    assert set(first["data"]) == {"text/html"}                 # the book renders the HTML part
    assert set(second["data"]) == {plots.PLOTLY_MIMETYPE}      # left alone: MyST-NB's warning is a real one
    plain = json.dumps({"cells": [], "metadata": {}})
    assert plots.drop_redundant_plotly_json(plain) is plain   # untouched when there is nothing to drop


def test_hover_images_html_carries_every_thumbnail_and_the_hover_handler():
    import json as _json
    import re as _re

    import plotly.graph_objects as go

    from styleinv_lib.viz.plots import hover_images_html

    images = np.zeros((3, 8, 8, 3), dtype=np.uint8)
    images[1] = 255
    fig = go.Figure(go.Scatter(x=[0, 1, 2], y=[0, 1, 0], mode="markers", customdata=[0, 1, 2]))
    html = hover_images_html(fig, images, ["a", "b", "c"])
    thumbs = _json.loads(_re.search(r"var thumbs = (\[.*?\]);", html).group(1))
    assert len(thumbs) == 3 and thumbs[0] != thumbs[1]
    assert "plotly_hover" in html and 'var captions = ["a", "b", "c"]' in html
    assert "cdn.plot.ly" not in html                      # offline outside Colab


def test_mp4_writer_chunk_by_chunk_is_the_whole_file_and_atomic(tmp_path):
    pytest.importorskip("av")
    frames = smooth_video(t=9, h=33, w=47)
    path = tmp_path / "clip.mp4"
    with vv.Mp4Writer(path, fps=25) as mp4:
        for start in (0, 4, 5):
            mp4.write(frames[start:{0: 4, 4: 5, 5: 9}[start]])
            assert not path.exists(), "the file appears only when complete"
    streamed, whole = decode_mp4(path.read_bytes()), decode_mp4(vv.encode_mp4(frames, fps=25))
    assert streamed.shape == whole.shape == (9, 34, 48, 3)
    assert np.abs(streamed.astype(int) - whole).mean() < 3            # x264's run-to-run spread, see above
    assert np.abs(streamed[:, :33, :47].astype(int) - frames).mean() < 8
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]
    with pytest.raises(RuntimeError):                   # an error half-way leaves nothing behind
        with vv.Mp4Writer(tmp_path / "broken.mp4") as mp4:
            mp4.write(frames[:3])
            raise RuntimeError("generation failed")
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]
    mp4 = vv.Mp4Writer(None)
    mp4.write(frames[:2])
    with pytest.raises(ValueError, match="cannot follow"):
        mp4.write(smooth_video(t=1, h=32, w=32))
    with pytest.raises(ValueError, match="fps"):
        vv.Mp4Writer(None, fps=0)


def test_annotated_listing_puts_each_note_beside_its_line_and_refuses_a_stale_key():
    from styleinv_lib.viz.listing import annotated_listing

    def f(x):
        if x < 0:
            raise ValueError("x < 0")
        y = x * 2          # double
        return y + 1

    page = annotated_listing(f, {"y = x * 2": "y = 2x", "return": "Eq. 1: y + 1"})
    rows = re.findall(r"<tr>(.*?)</tr>", page)
    assert len(rows) == len(inspect.getsource(f).splitlines())
    assert "y = x * 2" in rows[3] and "y = 2x" in rows[3] and "Eq. 1: y + 1" in rows[4]
    assert "&lt; 0" in page                                  # the source is escaped
    short = annotated_listing(f, {"return": "the end"}, start="y = x * 2")
    assert "3 lines before this one left out" in short and "raise ValueError" not in short
    with pytest.raises(ValueError, match="'z = 3'"):
        annotated_listing(f, {"z = 3": "stale"})
    with pytest.raises(ValueError, match="'y = x'"):                  # notes follow the order of the lines
        annotated_listing(f, {"return": "end", "y = x": "too late"})
