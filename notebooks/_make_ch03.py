"""Writes notebooks/03_inversion.ipynb (cells only; outputs come from executing it).  Edit here, run
``python notebooks/_make_ch03.py``, then re-execute the notebook with the profile named in its first cell:
``cd notebooks && OMP_NUM_THREADS=1 STYLEINV_PROFILE=cpu jupyter execute --inplace 03_inversion.ipynb``."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import REPOSITORY, code, install_cell, md, write_notebook  # noqa: E402

cells = [
    md(r"""
# 3. GAN inversion: from a frame back to its latent code

```{admonition} Stored outputs
:class: note
The outputs on this page come from running the notebook with the **`cpu`** profile on a 2-core x86-64 CPU with
no GPU (about three minutes).  The generator is the committed `checkpoints/stylegan2_synthfaces32_cpu.safetensors`
of chapter 2 (32², $\mathcal W$ of 128 dimensions); the encoder is the committed
`checkpoints/encoder_synthfaces32_cpu.safetensors`, trained with
`styleinv train-encoder --generator checkpoints/stylegan2_synthfaces32_cpu.safetensors --data data/synthfaces
--out runs/encoder-cpu --profile cpu` (30 kimg, about 20 minutes on the same CPU, shared with other jobs) and
exported with `styleinv_lib.loading.export_encoder`.  The `smoke` profile runs the same cells on fewer images with fewer optimisation
steps.
```

Chapter 2 built the generator $G$, which turns a latent code $w \in \mathcal W$ into an image.  This chapter goes the
other way: given a frame $x$, find the $w$ with $G(w) \approx x$.  That is **GAN inversion**
{cite}`xia2022gan`, and StyleInV is built on it three times over:

* the motion generator of StyleInV *is* an inversion encoder — the one trained in this chapter, with extra
  modulation layers added to its blocks and its weights used as the starting point (§3.2 of the paper, chapter 6);
* the latent space that inverted frames land in is clustered by identity, so a video can stay near its first
  frame's code and still move (§3.2, Fig. 2; measured in chapter 4);
* a real photograph becomes the first frame of a generated video by inverting it (chapter 8).

We compare the three ways of inverting a generator, look at the encoder of the paper's Eq. (1) next to its code,
train it, and measure what each method gives and what it costs.
"""),
    install_cell(),
    code(f'''
import inspect, json, pathlib, tempfile, time
import numpy as np
import torch
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from IPython.display import Markdown, display

import styleinv_lib as sil
from styleinv_lib.nn.encoder import InversionEncoder
from styleinv_lib.train.inversion import InversionStage, config_for_profile, train_encoder
from styleinv_lib.train.checkpoint import load_snapshot
from styleinv_lib.cost import count_flops
from styleinv_lib.inversion import invert, psnr
from styleinv_lib.loading import checkpoint_path, load_generator, load_encoder
from styleinv_lib.metrics.lpips import LPIPS
from styleinv_lib.viz import plots

profile = sil.get_profile()
plots.setup_plotly()
torch.manual_seed(0)
device = "cuda" if torch.cuda.is_available() else "cpu"
ROOT = pathlib.Path.cwd().parent if pathlib.Path.cwd().name == "notebooks" else pathlib.Path.cwd()
print(f"profile {{profile.name}}: {{profile.description}}")


G = load_generator(checkpoint_path("stylegan2_synthfaces32_cpu.safetensors"), device=device)
R = G.img_resolution
to_uint8 = lambda t: ((t.detach().float().cpu().permute(0, 2, 3, 1) + 1) * 127.5).clamp(0, 255).round().to(torch.uint8)
r4 = lambda a: np.round(np.asarray(a, dtype=np.float64), 4)      # short numbers in the stored figures
HELD_OUT_SEED = 2023      # SynthFaces seed of the frames we invert: the training videos are seed 0
print(f"generator: {{R}}x{{R}}, w_dim={{G.w_dim}}")
'''),
    md(r"""
## 3.1 Three ways to invert a generator

Inversion asks for $w^\star = \arg\min_w \mathcal L\big(G(w), x\big)$, where $\mathcal L$ measures how different two
images are.  The survey of Xia et al. {cite}`xia2022gan` (cited by the paper's §2) sorts the methods into three
families:

| family | how $w$ is found | cost per image | examples |
|---|---|---|---|
| **learning-based** | an encoder $E$ is trained once, on many images, to output $w$ in one forward pass | one forward pass | pSp {cite}`richardson2021encoding`, e4e {cite}`tov2021designing`, StyleInV's $E$ |
| **optimisation-based** | gradient descent on $w$ itself, separately for every image | hundreds of forward *and* backward passes through $G$ | Image2StyleGAN {cite}`abdal2019image2stylegan`, the StyleGAN2 projector {cite}`karras2020analyzing` |
| **hybrid** | the encoder's $w$ is the starting point of a short optimisation | one forward pass + tens of steps | in-domain inversion {cite}`zhu2020domain` |

Optimisation fits the one image in front of it and, given enough steps, usually reconstructs it best; but it is
slow, and nothing stops it from wandering into parts of $\mathcal W$ that $G$ rarely produces.  An encoder has
seen many images, so it is fast and lands where $G$'s codes usually are, at the price of a less exact fit.  StyleInV
takes the learning-based road (§2): its motion generator must produce a code for *every frame of every video* it
generates, and it has to be a network — one that can be trained end-to-end and whose blocks can be modulated by
a temporal style.  An optimisation loop is neither.

All three are one function in the library, `invert(images, G, encoder, method=...)`.  Its optimiser follows the
StyleGAN2 projector (Adam on $w$, learning rate ramped up over the first 5 % of the steps and down with a cosine
over the last 25 %), and it minimises the same loss as the encoder's training below: pixel MSE plus
$0.8\times$LPIPS {cite}`zhang2018unreasonable`.
"""),
    md(r"""
## 3.2 The encoder of Eq. (1)

StyleInV reconstructs an image as (the paper's Eq. 1)

$$
\hat x \;=\; G\big(\mathrm{Inv}(x)\big) \;=\; G\big(E(x) + \bar w\big),
$$

where $\bar w$ is the average latent of $G$'s mapping network (chapter 2).  Two choices are written into this
formula.  First, $E$ predicts an **offset from $\bar w$**, not $w$ itself: the prediction starts from the centre of
$\mathcal W$, where $G$ makes its most typical images.  Second, the result is **one** vector in $\mathcal W$, used by
every layer of the synthesis network — not the $\mathcal W^+$ of pSp, which predicts a separate code for each layer
and reconstructs better but leaves the space that $G$ was trained on.  StyleInV needs $\mathcal W$: its motion
generator moves inside it, and $\mathcal W$ is where frames of one identity cluster (chapter 4).

The library's `InversionEncoder` is pSp's IR-SE backbone {cite}`richardson2021encoding` shrunk to our resolution:
a stem convolution, residual units with squeeze-and-excitation (one or more per halving of the resolution), average
pooling and one linear head.  The last line of `forward` is Eq. (1):
"""),
    code("""
print(inspect.getsource(InversionEncoder.features))
print(inspect.getsource(InversionEncoder.forward))
"""),
    code("""
cfg = config_for_profile(profile)
E_fresh = InversionEncoder.for_generator(G, **cfg.encoder_kwargs()).to(device).eval()
print(f"InversionEncoder({E_fresh.extra_repr()})")
print("stem:", E_fresh.stem)
print("first residual block:", E_fresh.blocks[0])
print("head:", E_fresh.head)
print(f"{sum(p.numel() for p in E_fresh.parameters()):,} parameters; block outputs "
      f"{list(zip(E_fresh.block_resolutions, E_fresh.block_channels))} (resolution, channels)")
"""),
    md(r"""
The head of a fresh encoder is initialised with weights 100 times smaller than usual and a zero bias, so before any
training $E(x) \approx 0$ and $\mathrm{Inv}(x) \approx \bar w$ for every image: training starts from $G$'s "average
face" rather than from a random point of $\mathcal W$.  Checked on a few frames:
"""),
    code("""
demo_frames = sil.SynthFaces(resolution=R, num_frames=8, seed=HELD_OUT_SEED).render(0, t=[0, 4])
x = demo_frames.permute(0, 3, 1, 2).float().div(127.5).sub(1).to(device)
with torch.no_grad():
    w_fresh = E_fresh(x)
    offset = (w_fresh - G.mapping.w_avg).norm(dim=1) / G.mapping.w_avg.norm()
    avg_face = G.synthesis(G.mapping.w_avg[None], noise_mode="const")
    fresh_rec = G.synthesis(w_fresh, noise_mode="const")
print(f"|E(x)| / |w_avg| before training: {offset.max():.4f}")
assert offset.max() < 0.05, "an untrained encoder should sit at w_avg"
plots.show_image_grid(to_uint8(torch.cat([x, fresh_rec, avg_face])), nrow=5, size=1.3,
                      titles=["frame", "frame", "G(Inv(x))", "G(Inv(x))", "G(w_avg)"])
"""),
    md(r"""
## 3.3 Training the encoder

$G$ is frozen; only $E$ learns.  Every batch holds two kinds of images: real frames of the training videos, and
images that $G$ itself generated from fresh codes $w = f(z)$ — for those the right answer is known.  The loss
follows pSp's weights {cite}`richardson2021encoding` and adds a latent term on the generated half:

$$
\mathcal L(E) = \underbrace{\lVert \hat x - x \rVert_2^2}_{\texttt{l2}}
 + 0.8\,\underbrace{\mathrm{LPIPS}(\hat x{\uparrow}, x{\uparrow})}_{\texttt{lpips}}
 + 0.1\,\underbrace{\big(1 - \cos(P(\hat x), P(x))\big)}_{\texttt{id}}
 + \underbrace{\lVert E(G(w)) + \bar w - w \rVert_2^2}_{\texttt{latent},\ G\text{'s images only}}
 + 0.01\,\underbrace{\lVert E(x) \rVert_2^2}_{\texttt{reg}} ,
$$

with $\hat x = G(E(x) + \bar w)$ and every norm a mean over elements.  The perceptual term LPIPS compares
AlexNet features; ${\uparrow}$ upsamples our 32² frames to 64² first, because AlexNet's first layer (11×11, stride 4)
leaves almost nothing of a 32² image.  The identity term stands in for pSp's ArcFace loss: $P$ is the small
SynthFaces probe of `styleinv_lib.metrics.probe`, a network trained to tell rendered identities apart — it means
nothing outside SynthFaces.  The regulariser is pSp's pull towards $\bar w$.  The latent term is our addition for
small data: on $G$'s own images it tells the encoder *which* of the many codes that explain an image is the right
one.  In code:
"""),
    code("""
print(inspect.getsource(InversionStage.losses))
"""),
    md(r"""
The profiles differ in size and length (`PRESETS` in `styleinv_lib/train/inversion.py`; pSp trains for 500k
steps, our `cpu` run for under two thousand):
"""),
    code("""
keys = ["channel_base", "channel_max", "blocks_per_stage", "batch", "total_kimg", "lr", "id_weight"]
rows = ["| profile | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
for name in ("smoke", "cpu", "gpu"):
    c = config_for_profile(name)
    rows.append(f"| `{name}` | " + " | ".join(str(getattr(c, k)) for k in keys) + " |")
display(Markdown("\\n".join(rows)))
"""),
    md(r"""
`train_encoder` is the function behind `styleinv train-encoder`.  Here it runs for a few seconds on a small
rendering of the training data (SynthFaces seed 0); the real run is started from a terminal, where it shows a
progress bar, writes TensorBoard logs and snapshots, and resumes after an interruption:

```bash
styleinv train-encoder --generator checkpoints/stylegan2_synthfaces32_cpu.safetensors \
    --data data/synthfaces --out runs/encoder-cpu --profile cpu --resume auto
python -c "from styleinv_lib.loading import export_encoder; \
    export_encoder('runs/encoder-cpu', 'checkpoints/encoder_synthfaces32_cpu.safetensors')"
```

(`styleinv invert --generator ... --encoder ... --images FOLDER --method encoder|optimise|hybrid --out DIR` then
inverts a folder of your own images from the command line.)
"""),
    code("""
work = pathlib.Path(tempfile.mkdtemp())
sil.data.export_synthfaces(work / "faces", num_videos=min(profile.num_videos, 24), num_frames=32, resolution=64,
                           seed=0, progress=False)
demo_kimg = {"smoke": 0.016, "cpu": 0.32, "gpu": 2.0}[profile.name]
demo_cfg = config_for_profile(profile, data=str(work / "faces"), total_kimg=demo_kimg, snapshot_kimg=None,
                              eval_kimg=None, eval_frames=8, eval_latents=8)
t0 = time.perf_counter()
demo = train_encoder(demo_cfg, work / "run", generator=checkpoint_path("stylegan2_synthfaces32_cpu.safetensors"),
                     progress=False, tensorboard=False, handle_signals=False)
demo_stats = [json.loads(line) for line in (work / "run" / "stats.jsonl").read_text().splitlines()]
print(f"{demo.step} steps ({demo.kimg:.3f} kimg) in {time.perf_counter() - t0:.1f} s; last losses:",
      {k.split("/")[-1]: round(v, 4) for k, v in demo.losses.items()})
assert all(np.isfinite(v) for s in demo_stats for k, v in s.items() if k.startswith("Loss"))
"""),
    md(r"""
The full `cpu` run's curves, read from its `stats.jsonl` and `metrics.jsonl` when the run folder
`runs/encoder-cpu` is present (the stored outputs come from it); otherwise the settings recorded inside the
committed encoder file are shown.  The held-out numbers on the right are measured every 10 kimg on the last 10 %
of the training videos, which the encoder never trains on (but $G$ did).
"""),
    code("""
FULL_RUN = ROOT / "runs" / "encoder-cpu"
ENCODER_FILE = checkpoint_path("encoder_synthfaces32_cpu.safetensors")
if profile.name != "smoke" and (FULL_RUN / "stats.jsonl").is_file():
    stats = [json.loads(line) for line in (FULL_RUN / "stats.jsonl").read_text().splitlines()]
    evals = [json.loads(line) for line in (FULL_RUN / "metrics.jsonl").read_text().splitlines()] \\
        if (FULL_RUN / "metrics.jsonl").is_file() else []
    fig = make_subplots(1, 2, subplot_titles=("training losses (unweighted)", "held-out videos"),
                        specs=[[{}, {"secondary_y": True}]])
    for key in ("l2", "lpips", "id", "latent", "reg"):
        if f"Loss/{key}" in stats[-1]:
            fig.add_trace(go.Scatter(x=r4([s["kimg"] for s in stats]), y=r4([s[f"Loss/{key}"] for s in stats]),
                                     mode="lines", name=key), 1, 1)
    if evals:
        fig.add_trace(go.Scatter(x=[e["kimg"] for e in evals], y=r4([e["heldout_psnr"] for e in evals]),
                                 mode="lines+markers", name="held-out PSNR (dB)"), 1, 2)
        fig.add_trace(go.Scatter(x=[e["kimg"] for e in evals], y=r4([e["heldout_lpips"] for e in evals]),
                                 mode="lines+markers", name="held-out LPIPS"), 1, 2, secondary_y=True)
    fig.update_yaxes(type="log", row=1, col=1)
    fig.update_xaxes(title_text="kimg")
    fig.update_layout(height=380, template="plotly_white")
    fig.show()
    if evals:
        last = evals[-1]
        print(f"after {last['kimg']:.0f} kimg: held-out PSNR {last['heldout_psnr']:.2f} dB, LPIPS "
              f"{last['heldout_lpips']:.3f}, probe identity cosine {last.get('heldout_id_cos', float('nan')):.3f}; "
              f"latent MSE on G's samples {last['gsample_latent_mse']:.3f} (w_avg: "
              f"{last['gsample_latent_mse_wavg']:.3f})")
else:
    info = load_snapshot(ENCODER_FILE, expected_stage="encoder").config
    print(f"{ENCODER_FILE.name}: trained for {info['step']} steps with")
    print(json.dumps({k: info["training"][k] for k in ("data", "generator", "batch", "total_kimg", "lr",
                                                        "lpips_weight", "id_weight", "latent_weight",
                                                        "reg_weight")}, indent=1))
"""),
    md(r"""
## 3.4 Reconstructing frames the encoder has never seen

From here on we use the committed encoder.  The frames to invert are rendered with SynthFaces **seed 2023**:
identities drawn independently of the seed-0 training videos, so neither $E$ *nor $G$* has seen these faces.  They
go through the same path as training data — rendered at 64², written as a folder of frames, read back by
`VideoFolder` at $G$'s resolution — which is also how you would invert your own video frames.
"""),
    code("""
E = load_encoder(ENCODER_FILE, device=device, resolution=R)
print(f"encoder: {ENCODER_FILE.name}, trained against {E.info['generator']}")
SIZES = {"smoke": dict(n=4, opt_steps=24, hybrid_steps=8)}.get(profile.name, dict(n=16, opt_steps=200,
                                                                                  hybrid_steps=50))
sil.data.export_synthfaces(work / "heldout", num_videos=SIZES["n"], num_frames=64, resolution=64,
                           seed=HELD_OUT_SEED, progress=False)
heldout = sil.VideoFolder(work / "heldout", R, mode="frames")
x_real = torch.stack([heldout.read_frames(i, [(17 * i) % 64])[0] for i in range(SIZES["n"])])
x_real = x_real.float().div(127.5).sub(1).to(device)             # B x 3 x R x R in [-1, 1]
with torch.no_grad():
    w_real = E(x_real)
    rec_real = G.synthesis(w_real, noise_mode="const")
show = min(8, SIZES["n"])
plots.show_image_grid(to_uint8(torch.cat([x_real[:show], rec_real[:show]])), nrow=show, size=1.2,
                      title="held-out frames (top) and G(E(x) + w_avg) (bottom)")
print(f"PSNR of the encoder's reconstructions: {psnr(rec_real, x_real).mean():.2f} dB")
"""),
    md(r"""
The reconstructions keep the pose and the colours that make a SynthFaces subject recognisable — skin, hair, shirt
and background — and lose the smaller or rarer details: a hat's brim turns into hair, a beard or the frame of a pair
of glasses fades.  Part of that is the encoder, and part is the generator: a 32² StyleGAN2 with a 128-dimensional
$\mathcal W$, trained for half an hour, cannot draw every face exactly, so even a perfect inversion would not
reproduce these frames pixel for pixel.

Images that $G$ drew itself are the other test: for them an exact answer exists, and the encoder comes much
closer.
"""),
    code("""
n_fake = SIZES["n"]
with torch.no_grad():
    z = torch.from_numpy(np.random.RandomState(123).randn(n_fake, G.z_dim)).float().to(device)
    w_true = G.mapping(z)[:, 0]                                    # one w per image, in W
    x_fake = G.synthesis(w_true, noise_mode="const").clamp(-1, 1)
    rec_fake = G.synthesis(E(x_fake), noise_mode="const")
plots.show_image_grid(to_uint8(torch.cat([x_fake[:show], rec_fake[:show]])), nrow=show, size=1.2,
                      title="G(w) (top) and G(E(G(w)) + w_avg) (bottom)")
print(f"PSNR on G's own images: {psnr(rec_fake, x_fake).mean():.2f} dB")
"""),
    md(r"""
## 3.5 Encoder, optimisation, hybrid: quality and cost

Now the three families on the same held-out frames.  Optimisation starts at $\bar w$ and runs the library's
default 200 Adam steps; the hybrid starts at the encoder's answer and runs 50 (in the `smoke` profile: fewer).
All of them are scored with PSNR (higher is better) and LPIPS-AlexNet at 64² (lower is better), and timed.  Note
that the optimiser minimises exactly MSE + 0.8 LPIPS, so these two scores are its home ground.
"""),
    code("""
lpips_net = LPIPS("alex").to(device)
runs = {
    "encoder": invert(x_real, G, E, method="encoder", lpips_model=lpips_net),
    "optimise": invert(x_real, G, method="optimise", steps=SIZES["opt_steps"], lpips_model=lpips_net),
    "hybrid": invert(x_real, G, E, method="hybrid", steps=SIZES["hybrid_steps"], lpips_model=lpips_net),
}
table = {name: r.summary(x_real, lpips_net) for name, r in runs.items()}
rows = ["| method | steps | PSNR (dB) ↑ | LPIPS ↓ | seconds per image | relative time |", "|---|---|---|---|---|---|"]
for name, s in table.items():
    rows.append(f"| {name} | {runs[name].steps} | {s['psnr']:.2f} | {s['lpips']:.3f} | "
                f"{s['seconds_per_image']:.4f} | {s['seconds_per_image'] / table['encoder']['seconds_per_image']:,.0f}x |")
display(Markdown("\\n".join(rows)))
"""),
    code("""
titles = [m for m in ("frame", *runs) for _ in range(show)]
plots.show_image_grid(to_uint8(torch.cat([x_real[:show]] + [r.images[:show] for r in runs.values()])), nrow=show,
                      size=1.2, title="rows: held-out frame, encoder, optimisation, hybrid")
"""),
    md(r"""
With its 200 steps, optimisation reconstructs the frames best; the hybrid comes close at a fraction of the cost;
the encoder is the least exact and by far the fastest.  The claims of §3.1, checked on these numbers:

* the encoder is **orders of magnitude faster**: each optimisation step is a forward *and* a backward pass through
  $G$ and LPIPS, so $n$ steps cost well over $n$ encoder passes.  Seconds depend on what else the machine is
  doing; the count of floating-point operations (`styleinv_lib.cost.count_flops`) does not, so that is the
  number the check below holds to;
* **optimisation lowers the loss** it is given, step after step, from the average face at $\bar w$;
* the **hybrid improves on the encoder**: a few dozen steps from $E(x)$ reach a lower loss than the encoder alone.
"""),
    code("""
loss = {name: r.loss_history.mean(dim=1) for name, r in runs.items()}       # mean over images, per step
speedup = table["optimise"]["seconds_per_image"] / table["encoder"]["seconds_per_image"]
# the cost in operations (one image; the same on any machine, busy or not) backs the timing
steps = {"encoder": None, "optimise": SIZES["opt_steps"], "hybrid": SIZES["hybrid_steps"]}
flops = {m: count_flops(lambda m=m: invert(x_real[:1], G, None if m == "optimise" else E, method=m,
                                             steps=steps[m], lpips_model=lpips_net))[1] for m in runs}
flop_ratio = flops["optimise"] / flops["encoder"]
print(f"optimisation is {speedup:,.0f}x slower per image than the encoder and costs {flop_ratio:,.0f}x its "
      f"floating-point operations ({flops['encoder'] / 1e6:.1f} MFLOP per image for the encoder); its loss went "
      f"{loss['optimise'][0]:.4f} -> {loss['optimise'][-1]:.4f}; hybrid {loss['hybrid'][0]:.4f} -> "
      f"{loss['hybrid'][-1]:.4f}")
assert flop_ratio > SIZES["opt_steps"] and flops["hybrid"] > SIZES["hybrid_steps"] * flops["encoder"], \
    "each optimisation step costs more than one encoder pass"
assert speedup > 2, "encoder >> optimiser (in seconds: a margin that survives a shared CPU)"
assert loss["optimise"][-1] < 0.8 * loss["optimise"][0], "optimisation lowers the loss"
assert loss["hybrid"][-1] < loss["encoder"][0] and table["hybrid"]["psnr"] > table["encoder"]["psnr"], \\
    "hybrid improves on the encoder"
assert SIZES["opt_steps"] < 200 or table["optimise"]["psnr"] > table["hybrid"]["psnr"] > table["encoder"]["psnr"]
"""),
    md(r"""
## 3.6 Does inversion find the *right* code?

A low reconstruction loss says that $G(\hat w)$ looks like $x$; it does not say that $\hat w$ is the code that made
$x$.  For $G$'s own images we know the true $w$, so we can measure the **latent recovery error**
$\lVert \hat w - w \rVert_2$ — the quantity that matters for StyleInV, which moves *codes* around.  Below: the
error of each method on the images of §3.4 (with the trivial guess $\hat w = \bar w$ for scale), and how the error
and the loss evolve over the optimisation steps.
"""),
    code("""
fake_runs = {
    "encoder": invert(x_fake, G, E, method="encoder", lpips_model=lpips_net, return_history=True),
    "optimise": invert(x_fake, G, method="optimise", steps=SIZES["opt_steps"], lpips_model=lpips_net,
                       return_history=True),
    "hybrid": invert(x_fake, G, E, method="hybrid", steps=SIZES["hybrid_steps"], lpips_model=lpips_net,
                     return_history=True),
}
w_cpu = w_true.cpu()
err = {"w_avg": (G.mapping.w_avg.cpu()[None] - w_cpu).norm(dim=1)}
err.update({name: (r.w.cpu() - w_cpu).norm(dim=1) for name, r in fake_runs.items()})
curve = {name: (r.w_history - w_cpu[None]).norm(dim=2).mean(dim=1) for name, r in fake_runs.items()}

fig = make_subplots(1, 3, subplot_titles=("latent error |w_hat - w| per image", "latent error vs step",
                                          "reconstruction loss vs step"))
colors = {"w_avg": "#7f7f7f", "encoder": "#1f77b4", "optimise": "#d62728", "hybrid": "#2ca02c"}
for name, e in err.items():
    fig.add_trace(go.Box(y=r4(e), name=name, marker_color=colors[name], boxpoints="all", showlegend=False), 1, 1)
for name in ("optimise", "hybrid"):
    steps = np.arange(len(curve[name]))
    fig.add_trace(go.Scatter(x=steps, y=r4(curve[name]), mode="lines", name=name, line_color=colors[name]), 1, 2)
    fig.add_trace(go.Scatter(x=steps, y=r4(fake_runs[name].loss_history.mean(dim=1)), mode="lines", name=name,
                             line_color=colors[name], showlegend=False), 1, 3)
for name, value in (("encoder", err["encoder"].mean()), ("w_avg", err["w_avg"].mean())):
    fig.add_hline(y=float(value), line_dash="dot", line_color=colors[name], row=1, col=2,
                  annotation_text=name, annotation_position="top right")
fig.update_xaxes(title_text="step", row=1, col=2)
fig.update_xaxes(title_text="step", row=1, col=3)
fig.update_yaxes(type="log", row=1, col=3)
fig.update_layout(height=400, template="plotly_white", legend=dict(orientation="h", y=-0.2))
fig.show()
rows = ["| method | mean  ‖ŵ − w‖ | relative to ‖w̄ − w‖ | final loss |", "|---|---|---|---|"]
for name, e in err.items():
    final = f"{fake_runs[name].loss_history[-1].mean():.4f}" if name in fake_runs else "—"
    rows.append(f"| {name} | {e.mean():.3f} | {e.mean() / err['w_avg'].mean():.2f} | {final} |")
display(Markdown("\\n".join(rows)))
"""),
    md(r"""
Three things stand out.  The encoder's single pass lands clearly nearer the true code than $\bar w$ does: it has
learned where in $\mathcal W$ images of each kind come from (the latent term of its loss taught it directly).
Optimisation from $\bar w$ drives the image loss down by two orders of magnitude within a few dozen steps — $G$'s
own images can be reproduced almost exactly — while its latent error falls slowly and steadily, and only by the
end of its 200 steps gets as near $w$ as the encoder's one-pass guess.  The hybrid, starting from that guess, ends
nearest of all.

The lesson is that an image pins its code down only loosely: many different $w$ draw almost the same 32² picture,
so "reconstructs well" and "found the code that made it" are different things, and where an optimiser ends up
depends on where it started.  An encoder gives the same kind of answer for the same kind of image — similar
frames get similar codes — which is exactly what StyleInV needs from the codes of a video (chapter 4).
"""),
    code("""
print({name: round(float(e.mean()), 3) for name, e in err.items()})
opt_loss = fake_runs["optimise"].loss_history.mean(dim=1)
loss_ratio, latent_ratio = float(opt_loss[-1] / opt_loss[0]), float(err["optimise"].mean() / err["w_avg"].mean())
print(f"optimisation: loss x{loss_ratio:.3f}, latent error x{latent_ratio:.2f} of their values at w_avg")
assert err["encoder"].mean() < 0.85 * err["w_avg"].mean(), "the encoder recovers w better than w_avg"
assert loss_ratio < latent_ratio / 2, "optimisation lowers the image loss much more than the latent error"
assert err["optimise"].mean() > 0.9 * err["encoder"].mean(), "... and ends no nearer w than the encoder"
assert err["hybrid"].mean() < err["encoder"].mean(), "the hybrid's code is the nearest"
"""),
    md(r"""
## Summary

* GAN inversion finds $w$ with $G(w) \approx x$: by an encoder (one forward pass), by optimisation (hundreds of
  gradient steps per image), or by a hybrid of the two.  StyleInV uses an encoder, because its motion generator
  must be a fast, trainable network.
* Eq. (1), $\hat x = G(E(x) + \bar w)$, is the last line of `InversionEncoder.forward`: a pSp-style IR-SE network
  predicting one offset from $\bar w$ in $\mathcal W$ (not $\mathcal W^+$).
* The encoder is trained against the frozen $G$ with pixel, perceptual, identity-probe, latent and $\bar w$
  terms, on real frames and on $G$'s own images; `styleinv train-encoder` / `train_encoder` run it,
  `sil.load_encoder` loads the result.
* Measured here: the encoder is orders of magnitude faster than optimisation; optimisation reconstructs better
  but its code is no nearer the true one than the encoder's; a short hybrid refinement improves the encoder's
  reconstructions and its codes.

Chapter 4 inverts every frame of many videos and looks at where their codes land.
"""),
]

write_notebook(cells, "03_inversion.ipynb")
