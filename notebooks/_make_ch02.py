"""Writes notebooks/02_stylegan2.ipynb (cells only; outputs come from executing it).  Edit here, run
``python notebooks/_make_ch02.py``, then re-execute the notebook with the profile named in its first cell."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import code, install_cell, md, write_notebook  # noqa: E402

cells = [
    md(r"""
# 2. StyleGAN2: the image generator every later stage decodes with

```{admonition} Stored outputs
:class: note
The outputs on this page come from running the notebook with the **`cpu`** profile on a 2-core x86-64 CPU with
no GPU. The trained generator it analyses is the committed checkpoint
`checkpoints/stylegan2_synthfaces32_cpu.safetensors`, trained with
`styleinv train-stylegan2 --data data/synthfaces --out runs/stylegan2-cpu --profile cpu` (32², 150 kimg,
about half an hour on the same CPU).
```

StyleInV does not draw pixels itself.  Every frame it produces is decoded by a **StyleGAN2** generator $G$
{cite}`karras2020analyzing` trained on the individual frames of the video dataset, as if they were a photo
collection.  Later chapters freeze this $G$ and work only in its latent space $\mathcal{W}$: the inversion encoder
maps images into $\mathcal{W}$ (chapter 3), StyleInV moves through $\mathcal{W}$ over time (chapter 6), style
transfer swaps $G$ for a fine-tuned copy (chapter 8).  This chapter builds $G$, its discriminator $D$ and the
training recipe of StyleGAN2-ADA {cite}`karras2020training`, in plain PyTorch that runs unchanged on a CPU or a GPU.
"""),
    install_cell(),
    code("""
import inspect, json, pathlib
import numpy as np
import torch
import matplotlib.pyplot as plt
import plotly.graph_objects as go
from IPython.display import Markdown, display

import styleinv_lib as sil
from styleinv_lib.nn import Generator, Discriminator, style_mix
from styleinv_lib.nn.layers import modulated_conv2d
from styleinv_lib.train.augment import AugmentPipe, AUGMENT_PRESETS
from styleinv_lib.train.stylegan2 import config_for_profile, train_stylegan2
from styleinv_lib.loading import load_generator
from styleinv_lib.viz import plots, video as vv

profile = sil.get_profile()
plots.setup_plotly()
torch.manual_seed(0)
ROOT = pathlib.Path.cwd().parent if pathlib.Path.cwd().name == "notebooks" else pathlib.Path.cwd()
print(f"profile {profile.name}: {profile.description}")
"""),
    md(r"""
## 2.1 Two networks: mapping and synthesis

StyleGAN2's generator is two networks.  The **mapping network** $f$ turns a Gaussian code $z \in \mathbb{R}^{512}$
into an intermediate code $w = f(z)$ with eight fully connected layers.  $\mathcal{W}$ need not be Gaussian, and
that freedom lets it "unwarp" the factors of variation: it is the space every inversion method of chapter 3 aims
for.  The **synthesis network** $g$ starts from a learned constant $4\times4$ tensor and doubles the resolution
block by block; $w$ enters every convolution as a *style*.

Two details of the mapping network matter later.  It keeps a running average $\bar w$ of the codes it produces —
the $\bar w$ of StyleInV's Eq. (1), the point the inversion encoder's output is added to — and it can *truncate*
a code toward it, $w' = \bar w + \psi\,(w - \bar w)$, trading diversity for typicality.  Here is a small generator
(the sizes of the `smoke` profile):
"""),
    code("""
cfg = config_for_profile(profile)
G_demo = Generator(**cfg.generator_kwargs())
print(f"{cfg.resolution}x{cfg.resolution} generator: {G_demo.num_ws} style inputs (W+), "
      f"{sum(p.numel() for p in G_demo.mapping.parameters()):,} mapping and "
      f"{sum(p.numel() for p in G_demo.synthesis.parameters()):,} synthesis parameters")
z = torch.randn(8, cfg.z_dim)
ws = G_demo.mapping(z)                      # (8, num_ws, w_dim): the same w repeated for every layer
img = G_demo.synthesis(ws)                  # W+ input; G_demo.synthesis(ws[:, 0]) accepts plain W too
print("ws", tuple(ws.shape), "-> images", tuple(img.shape))
assert torch.allclose(G_demo.synthesis(ws[:, 0], noise_mode="const"), G_demo.synthesis(ws, noise_mode="const"),
                      atol=1e-6)
"""),
    md(r"""
## 2.2 Modulation and demodulation

Each $3\times3$ convolution of the synthesis network receives a style vector $s = A(w)$ from a learned affine map
$A$.  StyleGAN2 folds the style into the *weights* (its Eqs. 1 and 3):

$$
w'_{ijk} = s_i \, w_{ijk}, \qquad
w''_{ijk} = \frac{w'_{ijk}}{\sqrt{\sum_{i,k} {w'_{ijk}}^2 + \epsilon}},
$$

where $i$ runs over input channels, $j$ over output channels and $k$ over the kernel's taps.  Modulation scales
each input channel; demodulation rescales each output channel so that, for inputs of unit variance, outputs have
unit variance again — the job that AdaIN's explicit normalisation did in the first StyleGAN, without the "droplet"
artefacts it caused.  Because every sample has its own weights, the batch runs as one *grouped* convolution.
The library's implementation:
"""),
    code("""
print(inspect.getsource(modulated_conv2d))
"""),
    md(r"""
The claim behind demodulation, checked: whatever the styles, a demodulated layer keeps unit-variance features at
unit variance, while a merely modulated one does not.
"""),
    code("""
x = torch.randn(16, 64, 16, 16)
weight = torch.randn(48, 64, 3, 3)
for scale in (0.2, 1.0, 5.0):
    styles = torch.rand(16, 64) * scale + 0.05
    demod = modulated_conv2d(x, weight, styles, demodulate=True).std(dim=(0, 2, 3))
    plain = modulated_conv2d(x, weight, styles, demodulate=False).std(dim=(0, 2, 3))
    print(f"styles up to {scale:>4}: output std with demodulation {demod.mean():.3f} "
          f"(min {demod.min():.2f}, max {demod.max():.2f}); without {plain.mean():.2f}")
    assert (demod - 1).abs().max() < 0.2
"""),
    md(r"""
## 2.3 Training: losses, regularisers and adaptive augmentation

The training step (`styleinv_lib/train/stylegan2.py`) alternates four phases, as StyleGAN2-ADA does:

| phase | every | loss |
|---|---|---|
| `Gmain` | step | non-saturating logistic loss $\operatorname{softplus}(-D(T(G(z))))$, with style mixing |
| `Greg` | 4 steps | path-length regulariser $\mathbb{E}\,(\lVert J_w^\top y\rVert_2 - a)^2$ (off in the small profiles) |
| `Dmain` | step | $\operatorname{softplus}(D(T(G(z)))) + \operatorname{softplus}(-D(T(x)))$ |
| `Dreg` | 16 steps | $R_1 = \tfrac{\gamma}{2}\,\mathbb{E}\,\lVert \nabla_x D(T(x)) \rVert^2$ on reals, times the interval |

**Style mixing** (probability 0.9) feeds the layers after a random cutoff with the $w$ of a second $z$, so that
neighbouring layers do not learn to rely on sharing one style.  **Lazy regularisation** runs the expensive
penalties every 16 (or 4) steps with a proportionally larger weight, and corrects Adam's learning rate and
$\beta$'s for the extra steps.  $G_\text{ema}$, an exponential moving average of $G$'s weights with a half-life of
a few thousand images, is the generator we keep.

$T$ is **adaptive discriminator augmentation** (ADA): every image $D$ sees — real or fake — is flipped, rotated,
shifted, scaled and colour-jittered with probability $p$.  Since the same distribution of transforms is applied to
both, $G$ is not pushed to produce augmented-looking images, and $D$ cannot simply memorise the training frames.
$p$ is adjusted during training toward the point where the sign of $D$'s output on reals is positive 60 % of the
time.  For videos, the same sampled transform is applied to every frame of a clip (chapter 6 needs that).  A batch
of SynthFaces frames under $p = 0.6$:
"""),
    code("""
frames = sil.SynthFaces(resolution=64, num_frames=8, seed=1)
batch = torch.stack([frames.render(i, t=[0])[0] for i in range(8)]).permute(0, 3, 1, 2).float() / 127.5 - 1
pipe = AugmentPipe(**AUGMENT_PRESETS["bgc"])
pipe.p.fill_(0.6)
aug = pipe(batch, generator=torch.Generator().manual_seed(0))
to_uint8 = lambda t: ((t.permute(0, 2, 3, 1) + 1) * 127.5).clamp(0, 255).round().to(torch.uint8)
plots.show_image_grid(torch.cat([to_uint8(batch), to_uint8(aug)]), nrow=8, title="top: frames, bottom: ADA p=0.6")
"""),
    md(r"""
## 2.4 A training run

The same function the `styleinv train-stylegan2` command calls trains here.  In this notebook it runs for a short
demonstration (a few seconds with `smoke`); the full-length run of the profile — 150 kimg at 32² for `cpu` — is
better started from a terminal, where it shows a progress bar, writes TensorBoard logs and snapshots, and resumes
with `--resume auto` after an interruption:

```bash
styleinv data synthfaces --out data/synthfaces --videos 400 --frames 128 --resolution 64
styleinv train-stylegan2 --data data/synthfaces --out runs/stylegan2-cpu --profile cpu
```
"""),
    code("""
import tempfile
work = pathlib.Path(tempfile.mkdtemp())
sil.data.export_synthfaces(work / "faces", num_videos=min(profile.num_videos, 24), num_frames=32,
                           resolution=cfg.resolution, progress=False)
demo_kimg = {"smoke": 0.08, "cpu": 1.0, "gpu": 10.0}[profile.name]
demo_cfg = config_for_profile(profile, data=str(work / "faces"), total_kimg=demo_kimg, snapshot_kimg=demo_kimg / 2)
result = train_stylegan2(demo_cfg, work / "run", progress=False, tensorboard=False)
stats = [json.loads(line) for line in (work / "run" / "stats.jsonl").read_text().splitlines()]
print(f"trained {result.step} steps ({result.kimg:.2f} kimg); last losses:",
      {k: round(v, 3) for k, v in stats[-1].items() if k.startswith("Loss")})
assert all(np.isfinite(v) for s in stats for k, v in s.items() if k.startswith("Loss"))
"""),
    md(r"""
The full `cpu` run's loss curves and augmentation probability, read from its `stats.jsonl` (when the run folder is
present; the stored outputs come from it):
"""),
    code("""
FULL_RUN = ROOT / "runs" / "stylegan2-cpu"
has_full = profile.name != "smoke" and list((FULL_RUN / "samples").glob("kimg*.png"))
run_dir = FULL_RUN if has_full else work / "run"
stats = [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]
kimg = [s["kimg"] for s in stats]
fig = go.Figure()
for key in ("Loss/G/loss", "Loss/D/loss", "Loss/scores/real", "Loss/scores/fake", "Progress/augment_p"):
    if key in stats[-1]:
        fig.add_trace(go.Scatter(x=kimg, y=[s.get(key) for s in stats], mode="lines", name=key))
fig.update_layout(title=f"training curves ({run_dir.name})", xaxis_title="kimg", height=380, template="plotly_white")
fig.show()
"""),
    md(r"""
Samples of $G_\text{ema}$ for 16 fixed codes as training proceeds (each row one snapshot, left to right the same
codes):
"""),
    code("""
grids = sorted((run_dir / "samples").glob("kimg*.png"))
assert grids, f"no sample grids in {run_dir}"
picked = grids[:: max(1, len(grids) // 6)][-6:]
fig, axes = plt.subplots(len(picked), 1, figsize=(10, 1.45 * len(picked)))
for ax, path in zip(np.atleast_1d(axes), picked):
    ax.imshow(plt.imread(path)); ax.set_axis_off(); ax.set_title(path.stem.replace("kimg", "kimg "), fontsize=8)
plt.tight_layout(); plt.show()
"""),
    md(r"""
## 2.5 The trained generator

From here on we use the committed generator of the full `cpu` run (the demonstration run's generator when that
file is absent, e.g. in the `smoke` test).  `sil.load_generator` reads a run folder or a single `.safetensors`
file; the network's configuration travels inside the file, and nothing is unpickled.
"""),
    code("""
CKPT = ROOT / "checkpoints" / "stylegan2_synthfaces32_cpu.safetensors"
G = load_generator(CKPT if CKPT.exists() and profile.name != "smoke" else work / "run")
print(f"loaded a {G.img_resolution}x{G.img_resolution} generator, w_dim={G.w_dim}, num_ws={G.num_ws}")
to_img = lambda t: ((t.permute(0, 2, 3, 1) + 1) * 127.5).clamp(0, 255).round().to(torch.uint8)
with torch.no_grad():
    z = torch.from_numpy(np.random.RandomState(0).randn(32, G.z_dim)).float()
    samples = G(z, noise_mode="const")
plots.show_image_grid(to_img(samples), nrow=8, title="G_ema samples (seeds 0-31 of one RandomState)")
"""),
    md(r"""
### Truncation

Moving every $w$ toward $\bar w$ by a factor $\psi$ trades variety for typical, cleaner samples; $\psi = 0$ gives
the "average face" $G(\bar w)$ for every seed.  Columns below are $\psi = 1, 0.7, 0.5, 0.25, 0$.
"""),
    code("""
psis = [1.0, 0.7, 0.5, 0.25, 0.0]
with torch.no_grad():
    rows = [G(z[:6], truncation_psi=psi, noise_mode="const") for psi in psis]
grid = torch.stack(rows, dim=1).reshape(-1, 3, G.img_resolution, G.img_resolution)
plots.show_image_grid(to_img(grid), nrow=len(psis), title="truncation: psi = 1, 0.7, 0.5, 0.25, 0", size=1.2)
spread = [r.std(dim=0).mean().item() for r in rows]
print("pixel std across seeds:", [round(s, 3) for s in spread])
assert spread[0] > spread[2] > spread[-1], "less psi, less variety"
assert spread[-1] < 1e-5, "psi = 0: every seed gives G(w_avg)"
"""),
    md(r"""
### Style mixing

Because each layer receives its own copy of $w$, two codes can be mixed: the first layers (coarse resolutions)
from one, the rest from another.  Rows take their *coarse* styles (4²–8²: the first four ws) from the row's code,
columns their *fine* styles from the column's code.  In the large StyleGAN2 models, coarse styles decide pose and
face shape while fine styles decide colours and micro-structure; the measurement under the grid says how far that
holds for this small 32² generator.
"""),
    code("""
with torch.no_grad():
    w_rows = G.mapping(z[8:12], truncation_psi=0.8)
    w_cols = G.mapping(z[12:17], truncation_psi=0.8)
    cut = 4
    mixed = w_rows[:, None].repeat(1, len(w_cols), 1, 1)
    mixed[:, :, cut:] = w_cols[None, :, cut:]
    imgs = G.synthesis(mixed.reshape(-1, G.num_ws, G.w_dim), noise_mode="const")
    top = G.synthesis(w_cols, noise_mode="const")
    left = G.synthesis(w_rows, noise_mode="const")
R = G.img_resolution
canvas = torch.ones(len(w_rows) + 1, len(w_cols) + 1, 3, R, R)
canvas[0, 1:] = top
canvas[1:, 0] = left
canvas[1:, 1:] = imgs.reshape(len(w_rows), len(w_cols), 3, R, R)
plots.show_image_grid(to_img(canvas.reshape(-1, 3, R, R)), nrow=len(w_cols) + 1,
                      title="style mixing: coarse from the left column, fine from the top row", size=1.2)
# the claim: a mixed image shares the coarse ws of its row and the fine ws of its column, nothing else
assert torch.equal(mixed[2, 3, :cut], w_rows[2, :cut]) and torch.equal(mixed[2, 3, cut:], w_cols[3, cut:])
left_mean = left.mean(dim=(2, 3))
col_mean = top.mean(dim=(2, 3))
mix_mean = imgs.reshape(len(w_rows), len(w_cols), 3, R, R).mean(dim=(3, 4))
# fine styles carry the colour: a mixed image's mean colour is closer to its column's than to its row's
closer = ((mix_mean - col_mean[None]).norm(dim=-1) < (mix_mean - left_mean[:, None]).norm(dim=-1)).float().mean()
print(f"mixed images whose mean colour is closer to the fine-style parent: {closer:.0%}")
"""),
    md(r"""
### Noise

Per-pixel noise, scaled by a learned strength per layer, gives the generator a source of stochastic detail that it
does not have to derive from $w$.  Re-drawing only the noise for a fixed $w$ changes little: the standard deviation
over 16 noise draws (right) shows where the noise acts.
"""),
    code("""
with torch.no_grad():
    w = G.mapping(z[:1]).repeat(16, 1, 1)
    noisy = G.synthesis(w, noise_mode="random")
    other = G.synthesis(G.mapping(z[1:17]), noise_mode="const")
std_map = noisy.std(dim=0).mean(dim=0)
fig, axes = plt.subplots(1, 3, figsize=(7, 2.4))
axes[0].imshow(to_img(noisy[:1])[0]); axes[0].set_title("one draw")
axes[1].imshow(to_img(noisy[1:2])[0]); axes[1].set_title("another draw")
axes[2].imshow(std_map, cmap="magma"); axes[2].set_title("std over 16 draws")
for ax in axes: ax.set_axis_off()
plt.tight_layout(); plt.show()
noise_effect, content_effect = noisy.std(dim=0).mean().item(), other.std(dim=0).mean().item()
print(f"pixel std from noise alone: {noise_effect:.4f}; across different z: {content_effect:.4f}")
assert noise_effect < content_effect / 3, "noise changes details, not the subject"
"""),
    md(r"""
### Walking through $\mathcal{W}$

Linear interpolation between codes in $\mathcal{W}$ changes the picture smoothly — the property that makes
$\mathcal{W}$ a good space to *move through* over time, which is exactly what StyleInV will do.
"""),
    code("""
with torch.no_grad():
    keys = G.mapping(z[20:25], truncation_psi=0.8)[:, 0]
    steps = torch.linspace(0, 1, 24)[:-1]
    path = torch.cat([keys[i].lerp(keys[(i + 1) % len(keys)], steps[:, None]) for i in range(len(keys))])
    walk = G.synthesis(path, noise_mode="const")
vv.show_video(to_img(walk), fps=12, width=256)
"""),
    md(r"""
## Summary

* $G$ = mapping ($z \to w$, with the running mean $\bar w$ and truncation) + synthesis (modulated, demodulated
  convolutions with noise, toRGB at every resolution).  Both are callable separately, in $\mathcal{W}$ or
  $\mathcal{W}^+$.
* $D$ is a residual network with a minibatch-standard-deviation layer; its blocks are reusable, which chapter 6's
  first-frame-aware video discriminator relies on.
* Training follows StyleGAN2-ADA: non-saturating loss, lazy $R_1$ (and path length on GPU), style mixing,
  $G_\text{ema}$, and adaptive augmentation that applies one transform to all frames of a clip.
* The run folder holds atomic safetensors snapshots with optimizer, RNG and ADA state: `--resume auto` continues
  bit-exactly, and `sil.load_generator` loads $G_\text{ema}$ for the next chapters.

FID, the measure of sample quality that StyleGAN training usually reports, arrives with the metrics chapter.
"""),
]

write_notebook(cells, "02_stylegan2.ipynb")
