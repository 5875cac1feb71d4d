"""Writes notebooks/07_generation.ipynb (cells only; outputs come from executing it).  Edit here, run
``python notebooks/_make_ch07.py``, then re-execute the notebook with the profile named in its first cell:
``cd notebooks && OMP_NUM_THREADS=1 STYLEINV_PROFILE=cpu jupyter execute --inplace 07_generation.ipynb``."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import code, install_cell, md, write_notebook  # noqa: E402

cells = [
    md(r"""
# 7. Generation: any length, any timestamp, any first frame

```{admonition} Stored outputs
:class: note
The outputs on this page come from running the notebook with the **`cpu`** profile on a 2-core x86-64 CPU with
no GPU (a few minutes).  The model is the committed `checkpoints/styleinv_synthfaces32_cpu.safetensors`
(chapter 6) with the generator and raw encoder it was trained with; videos are 32² and shown enlarged.  The
interactive slider of §7.2 needs a live Jupyter or Colab kernel; the plotly slider next to it works in this static
page.  Identity numbers are **SynthFaces probe metrics**, not FID/FVD.
```

A trained StyleInV {cite}`wang2023styleinv` is a function of two arguments: the latent code of the first frame,
$w_0$, and a timestamp $t$.  Nothing in $\mathrm{StyleInV}(w_0, t) = w_0 + E(G(w_0), s_t)$ refers to another
frame, so generation is **non-autoregressive**: frame 1,000 costs what frame 1 costs, timestamps can come in any
order or between frames, a long video can be cut into chunks, and the first frame can be any image we can invert.
This chapter uses those properties — videos of 16, 128 and 2,048 frames, a slider over $t$, the trajectories in
$\mathcal W$ — and checks the claim of the paper's §4.1 and Fig. 7 that such long videos neither freeze ("motion
collapse") nor drift away from their subject.
"""),
    install_cell(),
    code("""
import inspect, io, os, pathlib, sys, tempfile, time, base64
import numpy as np
import torch
import matplotlib.pyplot as plt
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from PIL import Image
from IPython.display import HTML, display

import styleinv_lib as sil
from styleinv_lib.generate import VideoGenerator, generate_video, load_video_generator, to_uint8
from styleinv_lib.loading import export_encoder, resolve_checkpoint
from styleinv_lib.train.checkpoint import load_snapshot
from styleinv_lib.metrics.groundtruth import first_frame_error, identity_preservation
from styleinv_lib.metrics.probe import load_probe
from styleinv_lib.viz import plots, video as vv

profile = sil.get_profile()
plots.setup_plotly()
torch.manual_seed(0)
ROOT = pathlib.Path.cwd().parent if pathlib.Path.cwd().name == "notebooks" else pathlib.Path.cwd()
CKPT = ROOT / "checkpoints"
G_PATH = CKPT / "stylegan2_synthfaces32_cpu.safetensors"
E_PATH = CKPT / "encoder_synthfaces32_cpu.safetensors"
SI_PATH = CKPT / "styleinv_synthfaces32_cpu.safetensors"
work = pathlib.Path(tempfile.mkdtemp())
r4 = lambda a: np.round(np.asarray(a, dtype=np.float64), 4)
print(f"profile {profile.name}: {profile.description}")
"""),
    md(r"""
`load_video_generator` reads the StyleInV file and the generator and raw encoder it names (here passed
explicitly).  A fresh checkout without the committed files trains stand-ins for a few seconds, so that every cell
runs; the claims about the *trained* model are then printed but not asserted.
"""),
    code("""
TRAINED = SI_PATH.exists() and E_PATH.exists()
E_SOURCE, SI_SOURCE = E_PATH, SI_PATH
if not TRAINED:                     # stand-ins: the smoke presets of chapters 3 and 6, a few seconds each
    from styleinv_lib.train.inversion import config_for_profile as encoder_config, train_encoder
    from styleinv_lib.train.styleinv import config_for_profile as styleinv_config, train_styleinv
    sil.data.export_synthfaces(work / "faces", num_videos=12, num_frames=32, resolution=32, progress=False)
    if not E_PATH.exists():
        train_encoder(encoder_config("smoke", data=str(work / "faces"), generator=str(G_PATH), total_kimg=0.064,
                                     device="cpu"), work / "encoder", progress=False, tensorboard=False)
        E_SOURCE = export_encoder(work / "encoder", work / "encoder.safetensors")
    train_styleinv(styleinv_config("smoke", data=str(work / "faces"), generator=str(G_PATH), encoder=str(E_SOURCE),
                                   device="cpu", metrics=""), work / "styleinv", progress=False, tensorboard=False)
    SI_SOURCE = work / "styleinv"
    print("committed checkpoints missing: using stand-ins trained for a few seconds (claims not asserted)")
gen = load_video_generator(SI_SOURCE, generator=G_PATH, encoder=E_SOURCE)
probe = load_probe()
trained_for = load_snapshot(resolve_checkpoint(SI_SOURCE), expected_stage="styleinv").config
print(f"{gen.resolution}² videos; motion {gen.info['motion_kind']}; StyleInV trained for "
      f"{trained_for.get('step', gen.info['step'])} steps of batch {trained_for['batch']}")
print(inspect.signature(VideoGenerator.video))
"""),
    md(r"""
## 7.1 Sixteen, 128 and 2,048 frames

A video is a content seed (through $G$'s mapping network to $w_0$) and a motion seed (the FFA-APE noise).  The
training clips spanned 128 frames, and FVD is usually reported for 16 and 128 (FVD$_{16}$, FVD$_{128}$), so we
start there: eight 16-frame videos, then four of 128 frames.
"""),
    code("""
def show(frames, fps, nrow, width):
    \"\"\"frames: N x T x 3 x R x R in [-1, 1] -> an inline mp4 of the grid (2x upscale keeps the colours).\"\"\"
    display(HTML(vv.video_html(vv.video_grid(list(to_uint8(frames)), nrow=nrow), fps=fps, width=width, upscale=2)))

t_start = time.time()
N16, N128 = {"smoke": (4, 2)}.get(profile.name, (8, 4))      # smoke: fewer videos, to keep the test fast
v16 = gen.video(gen.w0_from_seeds(range(N16)), 16, motion_seeds=range(N16))
v128 = gen.video(gen.w0_from_seeds(range(100, 100 + N128)), 128, motion_seeds=range(N128))
print(f"{N16} x 16 and {N128} x 128 frames in {time.time() - t_start:.1f} s")
show(v16, fps=8, nrow=8, width=80 * N16)
show(v128, fps=16, nrow=4, width=512)
"""),
    md(r"""
Now the long ones: 2,048 frames — 82 seconds at 25 fps, sixteen training windows back to back (one of them
is shown; the `smoke` test makes 256).  `video()`
generates them in chunks of 64 timestamps per forward pass (§7.5 shows that chunking changes nothing), so memory
does not grow with the length.  We keep the latents $w_t$ for §7.3.
"""),
    code("""
L, N_LONG = {"smoke": (256, 2)}.get(profile.name, (2048, 3))   # smoke: shorter, to keep the test fast
t_start = time.time()
w0_long = gen.w0_from_seeds(range(200, 200 + N_LONG))
long_video, long_w = gen.video(w0_long, L, motion_seeds=range(N_LONG), return_latents=True)
long_time = time.time() - t_start
print(f"{N_LONG} videos x {L} frames in {long_time:.1f} s ({1e3 * long_time / (N_LONG * L):.2f} ms per frame)")
display(HTML(vv.video_html(to_uint8(long_video[0]), fps=25, width=256, upscale=2, crf=26)))
"""),
    md(r"""
The paper's Fig. 7 shows "the first and last 128 frames of a 2056-frame video, displayed every 16 frames".  The
same layout for our two long videos (per video: top row $t = 0, 16, \dots, 112$, bottom row
$t = 1920, \dots, 2032$):
"""),
    code("""
picks = list(range(0, 128, 16)) + list(range(L - 128, L, 16))            # t = 1920 .. 2032 for L = 2048
strip = long_video[:2, picks]
plots.show_image_grid(to_uint8(strip.reshape(-1, *strip.shape[2:])), nrow=8, size=1.0,
                      titles=[f"t={t}" for t in picks] * 2, title=f"first and last 128 frames of two {L:,}-frame videos")
"""),
    md(r"""
## 7.2 A slider over $t$

Because any $t$ is a valid input, the most direct way to look at a StyleInV video is to scrub through it.  Two
versions: an **ipywidgets** slider that calls the model on every move (it needs a live kernel — Jupyter, Colab,
VS Code), and a **plotly** slider over precomputed frames, which is what this static page can offer.

The widget re-renders $G(\mathrm{StyleInV}(w_0, t))$ for the slider's $t$, fractional values included, for three
videos side by side; a second slider changes the motion seed, so you can watch frame 0 stay put while everything
after it changes.  It is displayed only when a front end is attached (Colab, a Jupyter server, VS Code, or
`STYLEINV_WIDGETS=1`); under `jupyter execute` and `nbval` the cell creates no widget and checks the renderer
instead, so the built book carries no dead slider.
"""),
    code("""
import ipywidgets as widgets

SLIDER_W0 = gen.w0_from_seeds([300, 301, 302])


def render_png(t: float, motion_seed: int, scale: int = 6) -> bytes:
    \"\"\"PNG of frame t of the three slider videos (motion seeds motion_seed .. +2), enlarged `scale` times.\"\"\"
    frames = gen.video(SLIDER_W0, timestamps=[float(t)], motion_seeds=[motion_seed + i for i in range(3)])
    grid = vv.frame_grid(to_uint8(frames[:, 0]), nrow=3)
    img = Image.fromarray(grid).resize((grid.shape[1] * scale, grid.shape[0] * scale), Image.NEAREST)
    buf = io.BytesIO(); img.save(buf, format="PNG")
    return buf.getvalue()


def t_slider_widget():
    \"\"\"The live slider: every move of t (or of the motion seed) re-renders the frame with the model.\"\"\"
    t_slider = widgets.FloatSlider(value=0.0, min=0.0, max=L - 1, step=0.25, description="t",
                                   continuous_update=True, layout=widgets.Layout(width="95%"))
    seed_slider = widgets.IntSlider(value=0, min=0, max=50, description="motion seed")
    view = widgets.Image(value=render_png(0.0, 0), format="png")

    def update(_=None):
        view.value = render_png(t_slider.value, seed_slider.value)

    t_slider.observe(update, names="value")
    seed_slider.observe(update, names="value")
    return widgets.VBox([view, t_slider, seed_slider])


LIVE = os.environ.get("STYLEINV_WIDGETS", "") == "1" or (os.environ.get("STYLEINV_WIDGETS", "") != "0" and (
    "google.colab" in sys.modules or bool(os.environ.get("JPY_SESSION_NAME")) or "VSCODE_PID" in os.environ))
if LIVE:
    display(t_slider_widget())
else:       # no front end: no widget is created (its state would be stored in the page); check the renderer
    assert render_png(0.0, 7) == render_png(0.0, 0)          # other motion seeds: frame 0 is unchanged
    assert render_png(100.5, 0) != render_png(0.0, 0)
    print("no live front end: the ipywidgets slider is not shown (its renderer checked: frame 0 is the same for "
          "motion seeds 0 and 7, t = 100.5 differs)")
"""),
    md(r"""
The static version: the same three videos, 43 frames from $t = 0$ to $126$ every three frames, stored in the page
as small PNGs.  Drag the slider or press play.
"""),
    code("""
def png_uri(frame_uint8) -> str:
    \"\"\"A small PNG data URI (an adaptive 256-colour palette: a third of the bytes of RGB at 32²).\"\"\"
    img = Image.fromarray(frame_uint8).quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    buf = io.BytesIO(); img.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


t_grid = np.arange(0, 128, {"smoke": 12.0}.get(profile.name, 3.0))
slider_video = gen.video(SLIDER_W0, timestamps=t_grid, motion_seeds=[0, 1, 2])          # 3 x 43 frames
uris = [png_uri(vv.frame_grid(to_uint8(slider_video[:, k]), nrow=3)) for k in range(len(t_grid))]
steps = [dict(method="animate", label=f"{t:g}",
              args=[[f"t{t:g}"], dict(mode="immediate", frame=dict(duration=0, redraw=True), transition=dict(duration=0))])
         for t in t_grid]
fig = go.Figure(data=[go.Image(source=uris[0], hoverinfo="skip")],
                frames=[go.Frame(data=[go.Image(source=u)], name=f"t{t:g}") for t, u in zip(t_grid, uris)])
fig.update_layout(
    height=330, width=660, margin=dict(l=10, r=10, t=40, b=10), title="G(StyleInV(w0, t)) for three videos",
    xaxis=dict(visible=False), yaxis=dict(visible=False),
    sliders=[dict(active=0, steps=steps, currentvalue=dict(prefix="t = "), pad=dict(t=30))],
    updatemenus=[dict(type="buttons", showactive=False, x=0, y=-0.05, xanchor="right", yanchor="top",
                      buttons=[dict(label="play", method="animate",
                                    args=[None, dict(frame=dict(duration=80, redraw=True), fromcurrent=True)]),
                               dict(label="pause", method="animate",
                                    args=[[None], dict(mode="immediate", frame=dict(duration=0, redraw=False))])])])
fig.show()
print(f"{len(uris)} frames, {sum(len(u) for u in uris) / 1024:.0f} KiB of PNG in the figure")
"""),
    md(r"""
## 7.3 Trajectories in $\mathcal W$

Each video is a curve $t \mapsto w_t$ that starts at $w_0$.  Chapter 4 found the latent space clustered by
subject; StyleInV's design — the inversion encoder modulated over time, a residual added to $w_0$ and the latent
regulariser of Eq. 5 — is meant to keep each curve near its start.  A principal-component projection of the
latents of the long videos (fitted on all their frames; hover for $t$, large dots are $t = 0$), for the first
512 frames (256 in the `smoke` test):
"""),
    code("""
W = long_w[:, :512].reshape(-1, long_w.shape[-1])
mean = W.mean(0)
_, S, V = torch.linalg.svd(W - mean, full_matrices=False)
explained = (S ** 2 / (S ** 2).sum())[:2]
proj = ((long_w[:, :512] - mean) @ V[:2].T)                                    # N x 512 x 2
colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]
fig = go.Figure()
for i in range(N_LONG):
    fig.add_trace(go.Scatter(x=r4(proj[i, :, 0]), y=r4(proj[i, :, 1]), mode="lines", name=f"video {i}",
                             line=dict(color=colors[i % 6], width=1.2), text=list(range(512)),
                             hovertemplate="t=%{text}<extra></extra>"))
    fig.add_trace(go.Scatter(x=r4(proj[i, :1, 0]), y=r4(proj[i, :1, 1]), mode="markers", showlegend=False,
                             marker=dict(color=colors[i % 6], size=12, line=dict(color="black", width=1)),
                             hoverinfo="skip"))
fig.update_layout(height=460, template="plotly_white", title=f"PCA of w_t, t = 0..511 ({N_LONG} videos; "
                  f"PC1+PC2 explain {explained.sum():.0%} of the variance)", xaxis_title="PC 1", yaxis_title="PC 2")
fig.show()
"""),
    md(r"""
How far the curves go, in numbers: the distance $\lVert w_t - w_0 \rVert$ over all 2,048 frames, compared with the
distance from a $w_0$ to the *nearest* other content code among 1,000 random ones — the spacing of subjects in
$\mathcal W$.
"""),
    code("""
dist = (long_w - w0_long[:, None]).norm(dim=-1)                                # N x L
others = gen.w0_from_seeds(range(10_000, 11_000))
nearest = torch.cdist(w0_long, others).min(dim=1).values
fig = go.Figure()
for i in range(N_LONG):
    fig.add_trace(go.Scatter(x=np.arange(0, L, 4), y=r4(dist[i, ::4]), mode="lines", name=f"video {i}",
                             line=dict(color=colors[i % 6], width=1)))
fig.add_hline(y=nearest.mean().item(), line=dict(dash="dash", color="black"),
              annotation_text="mean distance from w0 to the nearest of 1,000 other w0")
fig.update_layout(height=340, template="plotly_white", xaxis_title="t (frames)", yaxis_title="||w_t - w0||",
                  title="distance travelled in W", yaxis_rangemode="tozero")
fig.show()
print(f"||w_t - w0||: mean {dist.mean():.3f}, max {dist.max():.3f}; nearest other w0: mean {nearest.mean():.3f}")
if TRAINED:
    assert dist.mean() < nearest.mean(), "on average the curve stays closer to its own w0 than to any other subject"
"""),
    md(r"""
## 7.4 Long horizons: no collapse, no explosion

Two things go wrong with long videos in earlier motion generators (the paper's Fig. 7): **motion collapse** — the
video freezes after a while, or repeats one short motion — and **drift** — the content degrades or turns into
another subject.  We measure both over the 2,048 frames, in sixteen windows of 128 frames:

* **frame-difference energy**, the mean absolute difference between consecutive frames (zero for a frozen video);
* **identity**, the probe cosine of each frame to frame 0 and the share of frames above the same-identity
  threshold (on every second frame, to save time);
* **distance in $\mathcal W$**, $\lVert w_t - w_0 \rVert$, and the pixel statistics of the frames.
"""),
    code("""
t_start = time.time()
stride = {"smoke": 4}.get(profile.name, 2)
emb = torch.stack([probe.embed(v[::stride]) for v in to_uint8(long_video)])    # N x L/stride x D
cos = (emb * emb[:, :1]).sum(-1)                                               # cosine to frame 0
energy = (long_video[:, 1:] - long_video[:, :-1]).abs().mean(dim=(2, 3, 4))    # N x (L-1)
win = 128
windows = np.arange(0, L, win)
per_window = {
    "frame difference": np.array([energy[:, s:s + win - 1].mean().item() for s in windows]),
    "identity share": np.array([(cos[:, s // stride:(s + win) // stride] >= probe.threshold).double().mean().item()
                                for s in windows]),
    "identity cosine": np.array([cos[:, s // stride:(s + win) // stride].mean().item() for s in windows]),
    "||w_t - w0||": np.array([dist[:, s:s + win].mean().item() for s in windows]),
    "pixel std": np.array([long_video[:, s:s + win].std().item() for s in windows]),
}
print(f"probe on {N_LONG * L // stride} frames in {time.time() - t_start:.1f} s")
print("window start " + " ".join(f"{s:6d}" for s in windows[::3]))
for name, vals in per_window.items():
    print(f"{name:18s}" + " ".join(f"{v:6.3f}" for v in vals[::3]))
"""),
    code("""
fig = make_subplots(rows=1, cols=2, subplot_titles=["motion: mean |x(t+1) - x(t)|", "identity: cosine to frame 0"])
for i in range(N_LONG):
    smooth = np.convolve(energy[i].numpy(), np.ones(32) / 32, mode="valid")[::8]
    fig.add_trace(go.Scatter(x=np.arange(len(smooth)) * 8 + 16, y=r4(smooth), mode="lines", name=f"video {i}",
                             line=dict(color=colors[i % 6], width=1), legendgroup=str(i)), row=1, col=1)
    fig.add_trace(go.Scatter(x=np.arange(0, L, stride)[::4], y=r4(cos[i, ::4]), mode="lines", showlegend=False,
                             line=dict(color=colors[i % 6], width=1), legendgroup=str(i)), row=1, col=2)
fig.add_hline(y=probe.threshold, line=dict(dash="dot", color="grey"), row=1, col=2)
fig.update_xaxes(title_text="t (frames)")
fig.update_layout(height=360, template="plotly_white", title="2,048 frames: motion (32-frame running mean) and identity")
fig.show()
"""),
    md(r"""
The checks: motion in the last window is of the same order as in the first (no collapse: at least a quarter of
it, and not zero); nothing explodes (no window travels more than twice as far in $\mathcal W$ as the first two,
and the pixel standard deviation of the last window is within 25 % of the first's); and no window keeps the
identity much worse than the first one (at most 0.25 lower share).
"""),
    code("""
pw = per_window
ratio_motion = pw["frame difference"][-1] / pw["frame difference"][0]
print(f"motion, last / first window: {ratio_motion:.2f};  ||w_t - w0||, last / first window: "
      f"{pw['||w_t - w0||'][-1] / pw['||w_t - w0||'][0]:.2f};  identity share first {pw['identity share'][0]:.3f}, "
      f"last {pw['identity share'][-1]:.3f}, lowest window {pw['identity share'].min():.3f}")
assert torch.isfinite(long_video).all()
if TRAINED:
    assert pw["frame difference"][-1] > 0.25 * pw["frame difference"][0] > 0, "no motion collapse"
    assert pw["||w_t - w0||"].max() < 2 * pw["||w_t - w0||"][:2].max() + 1e-6, "no drift in W"
    assert abs(pw["pixel std"][-1] - pw["pixel std"][0]) < 0.25 * pw["pixel std"][0]
    assert pw["identity share"].min() >= pw["identity share"][0] - 0.25, "identity kept over 2,048 frames"
"""),
    md(r"""
## 7.5 Non-autoregressive, demonstrated

**Any timestamps, any order.**  A batch of unsorted, repeated and fractional timestamps gives, for the integer
ones, exactly the frames of the long video above; a fractional timestamp gives a frame in between its
neighbours.
"""),
    code("""
ts = [float(L * 3 // 4), 3.0, 0.0, 77.25, float(L - 1), 3.0, 77.0, 78.0]   # unsorted, repeated, fractional
odd = gen.video(w0_long[:1], timestamps=ts, motion_seeds=[0])[0]
for k, t in enumerate(ts):
    if float(t).is_integer():
        assert torch.allclose(odd[k], long_video[0, int(t)], atol=1e-4), t
d = lambda a, b: (odd[a] - odd[b]).abs().mean().item()
print(f"integer timestamps match the long video; |x(77.25) - x(77)| = {d(3, 6):.4f}, "
      f"|x(78) - x(77.25)| = {d(7, 3):.4f}, |x(78) - x(77)| = {d(7, 6):.4f}")
assert max(d(3, 6), d(7, 3)) <= d(7, 6) + 1e-6
"""),
    md(r"""
**Chunks equal one batch.**  The long videos were generated 64 timestamps at a time.  One forward pass over all
2,048 timestamps of the first video gives the same frames (the StyleInV encoder keeps the raw encoder's
BatchNorm statistics, so a frame does not depend on its batch companions):
"""),
    code("""
one_batch = gen.video(w0_long[:1], L, motion_seeds=[0], chunk=L)             # L x w_dim in one pass
diff = (one_batch[0] - long_video[0]).abs().max().item()
print(f"max |one batch - 64-frame chunks| over {L} frames: {diff:.1e}")
assert diff < 1e-4
"""),
    md(r"""
**The cost of a frame does not depend on $t$.**  An autoregressive generator must produce frames $0 \dots t-1$
before frame $t$; here frame 100,000 is one forward pass like frame 0.
"""),
    code("""
def timed(t0, n=64):
    ts = torch.arange(t0, t0 + n, dtype=torch.float32)
    gen.video(w0_long[:1], timestamps=ts[:8], motion_seeds=[0])                 # warm-up
    start = time.perf_counter()
    frames = gen.video(w0_long[:1], timestamps=ts, motion_seeds=[0])
    return time.perf_counter() - start, frames

early, _ = timed(0)
late, far = timed(100_000)
print(f"64 frames at t = 0..63: {early:.2f} s;  at t = 100,000..100,063: {late:.2f} s")
assert torch.isfinite(far).all() and late < 4 * early
"""),
    md(r"""
## 7.6 Initial-frame conditioned generation (§4.2)

Since a video is "an inversion of its first frame, moved over time", the first frame need not come from $G$'s
mapping network.  Any image that the raw inversion encoder of chapter 3 can map to $\mathcal W$ gives a $w_0$, and
StyleInV animates it (the paper's Fig. 9 does this with pSp {cite}`richardson2021encoding` on real faces).  We take
the first frames of SynthFaces videos rendered for identities that no stage of the book trained on (dataset seed
2024), read them through the same `VideoFolder` resizing as the training data, invert them with
`gen.w0_from_images`, and generate 128 frames each.  The image is reconstructed twice on the way, as the paper
notes: once by the inversion ($G(w_0)$) and once by StyleInV at $t = 0$.
"""),
    code("""
N_IMG, T_IMG = {"smoke": (2, 32)}.get(profile.name, (6, 128))
sil.data.export_synthfaces(work / "heldout", num_videos=N_IMG, num_frames=2, resolution=64, seed=2024,
                           progress=False)
held = sil.VideoFolder(work / "heldout", resolution=gen.resolution)
images = torch.stack([held.read_frames(i, [0])[0] for i in range(N_IMG)])     # N x 3 x R x R uint8
w0_img = gen.w0_from_images(images)
cond = gen.video(w0_img, T_IMG, motion_seeds=range(N_IMG))
with torch.no_grad():
    g_w0 = gen.G.synthesis(w0_img, noise_mode="const")
inversion = first_frame_error(g_w0, images, probe=probe)                      # G(w0) vs the image
twice = first_frame_error(cond, images, probe=probe)                          # G(StyleInV(w0, 0)) vs the image
frame0 = first_frame_error(cond, g_w0)                                        # StyleInV at t = 0 vs G(w0)
img_emb = probe.embed(images)
video_cos = torch.stack([probe.embed(v) @ e for v, e in zip(to_uint8(cond), img_emb)])       # N x T_IMG
print(f"inversion G(w0) vs image: PSNR {inversion['psnr']:.1f} dB, probe cosine {inversion['id_cosine']:.3f}")
print(f"frame 0 vs image: PSNR {twice['psnr']:.1f} dB;  frame 0 vs G(w0): PSNR {frame0['psnr']:.1f} dB")
print(f"probe cosine of the {T_IMG} frames to the input image: mean {video_cos.mean():.3f}; share above the threshold "
      f"{(video_cos >= probe.threshold).double().mean():.3f} (for comparison, G(w0) itself: mean cosine "
      f"{inversion['id_cosine']:.3f})")
"""),
    code("""
cols = list(range(0, T_IMG, T_IMG // 8)) + [T_IMG - 1]
tiles = torch.cat([images[:, None].float() / 127.5 - 1, cond[:, cols]], dim=1)                # N x 10 x 3 x R x R
plots.show_image_grid(to_uint8(tiles[:4].reshape(-1, *tiles.shape[2:])), nrow=len(cols) + 1, size=1.0,
                      titles=(["input"] + [f"t={t}" for t in cols]) * min(4, N_IMG),
                      title="held-out first frames (left) and the videos StyleInV makes from their inversions")
show(cond[:4], fps=16, nrow=4, width=512)
"""),
    md(r"""
What to expect, and what is asserted: frame 0 of each video reproduces $G(w_0)$ (Eq. 4 at work on latents that
come from an image rather than from the mapping network), and the video keeps the identity of its frame 0.  How
close $G(w_0)$ is to the input image is the inversion's business (chapter 3), and at 32² it is the weak link: the
small generator and encoder do not reproduce every attribute — a rare hair colour can come back as a common one —
so the probe often finds the inverted face a near relative of the input rather than the same person.  StyleInV
then animates what $G(w_0)$ shows; it cannot restore what the inversion lost.
"""),
    code("""
kept = identity_preservation(to_uint8(cond), probe, horizons=(16, T_IMG))
print(f"identity of the conditioned videos relative to their frame 0: share@16 {kept['share@16']:.3f}, "
      f"share@{T_IMG} {kept[f'share@{T_IMG}']:.3f}")
if TRAINED:
    assert frame0["psnr"] > 30
    assert kept[f"share@{T_IMG}"] >= 0.75
"""),
    md(r"""
## Summary

* `VideoGenerator.video(w0, num_frames | timestamps, motion_seeds)` makes videos of any length in bounded memory;
  a 2,048-frame video at 32² takes tens of seconds on two CPU cores (the timing is printed in §7.1), with memory
  bounded by the chunk size.
* Any real $t \ge 0$ in any order is a valid input: the slider over $t$ is one forward pass per position, chunked
  generation equals one batch, and frame 100,000 costs what frame 0 costs.
* Over 2,048 frames the trained `cpu` model neither freezes nor drifts by the measures of §7.4 — frame-difference
  energy, probe identity, distance in $\mathcal W$ and pixel statistics stay at the level of the first window.
  What it keeps is small motion: consecutive frames differ by 0.004 on average in the $[-1, 1]$ range (half a grey
  level of 255) in every window (last / first 1.05), $\lVert w_t - w_0 \rVert$ stays between 1.3 and 1.7, and the
  identity share between 0.92 and 0.98.
* A held-out image, inverted by the raw encoder, becomes the first frame of a video: initial-frame conditioned
  generation needs no extra training.
"""),
]

write_notebook(cells, "07_generation.ipynb")
