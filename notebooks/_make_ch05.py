"""Writes notebooks/05_ffa_ape.ipynb (cells only; outputs come from executing it).  Edit here, run
``python notebooks/_make_ch05.py``, then re-execute the notebook with the profile named in its first cell:
``cd notebooks && OMP_NUM_THREADS=1 STYLEINV_PROFILE=cpu jupyter execute --inplace 05_ffa_ape.ipynb``."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import code, install_cell, md, write_notebook  # noqa: E402

cells = [
    md(r"""
# 5. FFA-APE: a motion code that keeps the first frame still

```{admonition} Stored outputs
:class: note
The outputs on this page come from running the notebook with the **`cpu`** profile on a 2-core x86-64 CPU with
no GPU (about 20 seconds).  The two motion encoders are freshly initialised, untrained, at the sizes of the
official face configuration: 512-dimensional noise, tokens and motion codes, anchors every 16 frames, two
convolutions of kernel 11.  Every property this chapter checks follows from the *structure* of the networks and
holds for any weights; the trained FFA-APE of StyleInV is analysed in chapter 6, once it has been trained.  The
`smoke` profile runs the same cells with 64-dimensional codes.
```

StyleInV {cite}`wang2023styleinv` separates a video into *what* is shown — the latent code $w_0$ of the first
frame — and *how it moves*.  The "how" enters the network through a single vector per timestamp, the **motion
code** $v_t$.  This chapter is about the small module that produces $v_t$ from random noise: the *acyclic
positional encoding* (APE) that StyleInV borrows from StyleGAN-V {cite}`skorokhodov2022stylegan`, and the
modification the paper contributes in its §3.3, the **first-frame-aware** APE (FFA-APE).  The difference between
the two fits in one sentence — FFA-APE makes $v_0$ the same vector for every video — but it decides whether the
first frame of a generated video is the image we asked for (the paper's Fig. 10), and removing it gives the worst
FVD$_{16}$ of all the ablations in the paper's Table 3.

Both variants live in one class, `styleinv_lib.nn.MotionEncoder(kind="ape" | "ffa_ape")`.
"""),
    install_cell(),
    code("""
import inspect, math, time
import numpy as np
import torch
import matplotlib.pyplot as plt
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from IPython.display import Markdown, display

import styleinv_lib as sil
from styleinv_lib.cost import count_flops
from styleinv_lib.nn import MotionEncoder, SeededAnchorNoise
from styleinv_lib.viz import plots

profile = sil.get_profile()
plots.setup_plotly()
torch.manual_seed(0)
print(f"profile {profile.name}: {profile.description}")
r4 = lambda a: np.round(np.asarray(a, dtype=np.float64), 4)      # short numbers in the stored figures
COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
"""),
    md(r"""
## 5.1 What the motion code is for

StyleInV generates frame $t$ of a video by inverting the first frame *again*, with the inversion encoder $E$ of
chapter 3 modulated by a **temporal style** $s_t$ (the paper's Eq. 2):

$$
\hat x_t = G(w_t), \qquad w_t = w_0 + E\big(G(w_0),\ s_t\big), \qquad s_t = [\,v_t,\ w_0\,].
$$

For one video, $w_0$ and the image $G(w_0)$ are fixed, so the whole trajectory $t \mapsto w_t$ — everything that
moves — is a function of $t \mapsto v_t$.  That puts four demands on the way $v_t$ is made:

1. **Any timestamp, on its own.**  StyleInV is trained *sparsely* (chapter 6): each step renders three or four
   frames of a clip at random timestamps.  $v_t$ must therefore be computable for a given $t$ without producing
   all the frames before it — no recurrence as in MoCoGAN's LSTM {cite}`tulyakov2018mocogan` — and for
   non-integer $t$ too.
2. **Smooth in $t$.**  Close timestamps need close codes, or the video jitters; $E$ and $G$ are continuous, so
   continuity of $v$ carries over to $w_t$ and to the pixels.
3. **Any length.**  At test time we want videos far longer than the training clips (chapter 7 renders thousands
   of frames).  $v_t$ must not blow up, must not repeat (a plain sinusoidal encoding would make every video loop),
   and should not cost more as $t$ grows.
4. **Random, except at $t = 0$.**  Two videos that start from the same $w_0$ should move differently, so $v_t$
   depends on random noise.  But frame 0 must *be* $G(w_0)$: the reconstruction loss (Eq. 4) asks for
   $E(G(w_0), [v_0, w_0]) = 0$.  That is easy to learn if $v_0$ is one fixed vector; if $v_0$ is random, it can
   only hold for every noise draw if $E$ learns to ignore the very codes that should move the video (§5.5).

APE meets the first three demands; FFA-APE is the change that adds the fourth.
"""),
    md(r"""
## 5.2 APE: anchors, tokens and an aligned Fourier interpolation

APE builds $v_t$ in three stages.

**Anchors.**  Time is divided into cells of $\Delta$ frames ($\Delta = 16$ for faces, 128 for sky timelapses in
the official configurations).  Every anchor point $t_k = k\Delta$ owns a noise vector $z_k \sim \mathcal N(0, I)$.

**Tokens.**  A stack of $L = 2$ one-dimensional convolutions with kernel $K = 11$ runs along the anchor axis and
turns the noise sequence into **tokens** $u_k$.  StyleGAN-V's convolutions have no padding, so token $u_k$ reads
the $L(K-1) + 1 = 21$ noise vectors $z_k, \dots, z_{k+20}$.  Neighbouring tokens share 20 of their 21 inputs: the
motion has a memory of a few hundred frames, yet no token depends on a previous *output*, and every token is
computed by the same function of i.i.d. noise — no anchor is special, not even $k = 0$.

**Interpolation.**  A timestamp $t$ lies in the cell between $t_l = \lfloor t/\Delta \rfloor \Delta$ and
$t_r = t_l + \Delta$, at the fraction $\alpha = (t - t_l)/\Delta$.  From the left token, linear layers $P$ and
$\Phi$ predict a period multiplier and a phase for each of $F$ = `motion_dim`/2 fixed frequencies $\omega$, and
these define Fourier features in the style of the Transformer's positional encoding
{cite}`vaswani2017attention`:

$$
\mathrm{PE}(\tau) = \big[\sin\varphi(\tau),\ \cos\varphi(\tau)\big], \qquad
\varphi(\tau) = \omega \odot p\;\tau + \psi \odot s, \qquad p = \tanh(P u_l) + 1 \in (0, 2),\quad \psi = \Phi u_l .
$$

The motion code is then

$$
v_t \;=\; \mathrm{PE}(t) \;-\; \big[(1-\alpha)\,\mathrm{PE}(t_l) + \alpha\,\mathrm{PE}(t_r)\big]
\;+\; (1-\alpha)\,A u_l + \alpha\,A u_r .
$$

Read it term by term.  $\mathrm{PE}(t)$ gives fast, smooth variation inside the cell, with a rhythm of its own
in every cell (the periods and phases come from $u_l$).  On its own it would be periodic, and it would jump at
every anchor, where the next cell's periods and phases take over.  Subtracting the chord
$(1-\alpha)\mathrm{PE}(t_l) + \alpha\,\mathrm{PE}(t_r)$ pins the Fourier part to zero at both ends of the cell.
The last term, a straight line between the "aligner" vectors $A u_l$ and $A u_r$, makes $v$ pass exactly through
$A u_k$ at every anchor $t_k$.  So $v_t$ is a random polyline through the anchor values $A u_k$ with a wiggle in
every cell: continuous everywhere, and *acyclic* because the anchor values never repeat.  The frequencies
$\omega$ have periods log-spaced from $\Delta$ to the 128-frame training clip (the official face configuration;
the sky configuration uses 32 to 1024 frames, StyleGAN-V 16 to 1024), and
$s = 128\,\omega/2\pi$ scales the phases.  $P$, $\Phi$ and $A$ have no bias, StyleGAN-V's guard against all
videos collapsing onto one motion.

We build both kinds at the official sizes.  They share $P$, $\Phi$ and $A$, so every difference between them
below comes from the tokens alone.
"""),
    code("""
SIZES = {"smoke": dict(motion_dim=64, noise_dim=64)}.get(profile.name, dict(motion_dim=512, noise_dim=512))
DELTA, K, L = 16, 11, 2


def build(kind):
    torch.manual_seed(0)
    return MotionEncoder(kind, anchor_spacing=DELTA, kernel_size=K, num_layers=L, **SIZES).eval()


ffa, ape = build("ffa_ape"), build("ape")
for name in ("periods", "phases", "aligners"):                 # the same P, Phi and A in both
    getattr(ape, name).load_state_dict(getattr(ffa, name).state_dict())
encoders = {"APE": ape, "FFA-APE": ffa}
print(ape)
print(f"periods of the {ape.freqs.numel()} frequencies: {2 * math.pi / ape.freqs.max():.0f} to "
      f"{2 * math.pi / ape.freqs.min():.0f} frames")


@torch.no_grad()
def motion(m, seeds, t):
    \"\"\"v for the videos `seeds` (B,) at timestamps t: (T,) shared by all videos, or (B, T).\"\"\"
    seeds = torch.as_tensor(seeds)
    t = torch.as_tensor(t, dtype=torch.float32)
    return m(seeds, t.expand(len(seeds), -1) if t.ndim == 1 else t)
"""),
    md(r"""
A video is identified by an integer **seed**: the noise of anchor $k$ is a pure function of (seed, $k$), made on
demand by a counter-based hash, so no noise trajectory is ever stored (§5.7 shows why that matters).  Here is
the interpolation as the library writes it — `positional` is $\mathrm{PE}$, and the last lines of `forward` are
the formula above:
"""),
    code("""
print(inspect.getsource(MotionEncoder.positional))
src = inspect.getsource(MotionEncoder._forward).splitlines()
start = next((i for i, line in enumerate(src) if "delta = self.anchor_spacing" in line), 0)
print("    # ... (input checks) ...")
print("\\n".join(src[start:]))
"""),
    md(r"""
Two claims of the formula, checked: at an anchor, $v_{t_k} = A u_k$ exactly (the Fourier terms cancel), and a
timestamp between frames, say $t = 37.25$, is as valid an input as any other.
"""),
    code("""
seeds = torch.arange(4)
k = torch.arange(9)
for name, m in encoders.items():
    v_at_anchors = motion(m, seeds, k * DELTA)                                     # (4, 9, D)
    with torch.no_grad():
        noise = SeededAnchorNoise(seeds, m.noise_dim)
        rows = torch.arange(len(seeds))                                            # batch rows of `noise`
        u = m.tokens(noise, rows.repeat_interleave(len(k)), k.repeat(len(seeds)), count=1)[:, 0]
        A_u = m.aligners(u).reshape(len(seeds), len(k), -1)
    err = (v_at_anchors - A_u).abs().max().item()
    between = motion(m, seeds, torch.tensor([37.0, 37.25, 37.5]))
    print(f"{name:8s} max |v(t_k) - A u_k| = {err:.1e};  |v(37.25) - v(37)| = "
          f"{(between[:, 1] - between[:, 0]).norm(dim=-1).mean():.3f}, |v(37.5) - v(37.25)| = "
          f"{(between[:, 2] - between[:, 1]).norm(dim=-1).mean():.3f}")
    assert err < 1e-4
"""),
    md(r"""
## 5.3 FFA-APE: a constant first anchor and left-sided convolutions

At $t = 0$ we have $\alpha = 0$ and $t = t_l$, so the formula reduces to $v_0 = A u_0$: the first frame's motion
code is fixed exactly when the token $u_0$ is.  In APE, $u_0$ reads $z_0, \dots, z_{20}$ — all random.  FFA-APE
changes two things (paper §3.3):

1. the noise of the first anchor is replaced by a **learned constant** $c_0^m$ (`MotionEncoder.c0`);
2. the convolutions become **left-sided**: each keeps only the taps at offsets $-r, \dots, 0$ with
   $r = \lfloor K/2 \rfloor$ (6 of 11 taps) and pads its input with zeros on the left.  Token $u_k$ then reads
   $z_{k - Lr}, \dots, z_k$: only anchors at or before its own, where positions below 0 are the zero padding.

For $u_0$ that leaves nothing random: it reads the padding and $c_0^m$.  Each change needs the other.  With
left-sided convolutions but a random $z_0$, $u_0$ would still depend on $z_0$; with $c_0^m$ but APE's
convolutions, $u_0$ would still read $z_1, \dots, z_{20}$.  Smoothness is untouched: it comes from the
interpolation, not from the direction the convolutions look in.

The diagram redraws the paper's Fig. 4 for the library's two kinds: $\Delta = 32$, kernel $K = 3$, two layers,
and the timestamp $t = 16$, whose code interpolates between $u_0$ and $u_1$.  Lines connect every value to the
inputs it reads.
"""),
    code("""
def cone(kind, token, K=3, L=2):
    \"\"\"Positions read at each level to compute token `token`: levels[0] are anchors, levels[L] the token.
    APE reads offsets 0..K-1 at every layer; FFA-APE offsets -K//2..0, and its padding (< 0) reads nothing.\"\"\"
    offsets = range(-(K // 2), 1) if kind == "ffa_ape" else range(K)
    levels = [{token}]
    for _ in range(L):
        levels.insert(0, {p + o for p in levels[0] if kind == "ape" or p >= 0 for o in offsets})
    return levels


def draw_cone(ax, kind, K=3, L=2, delta=32, t=16):
    tokens = [t // delta, t // delta + 1]
    cones = {tok: cone(kind, tok, K, L) for tok in tokens}
    xs = range(-L * (K // 2), tokens[-1] + L * (K - 1) + 1)
    edge_colors = {tokens[0]: "#d62728", tokens[1]: "#1f77b4"}
    for tok, levels in cones.items():                            # edges, drawn under the nodes
        for lev in range(1, L + 1):
            for p in levels[lev]:
                if kind == "ffa_ape" and p < 0:
                    continue
                offs = range(-(K // 2), 1) if kind == "ffa_ape" else range(K)
                for o in offs:
                    ax.plot([p, p + o], [lev, lev - 1], color=edge_colors[tok], alpha=0.45, lw=1.3, zorder=1)
        ax.plot([tok, t / delta], [L, L + 1], color=edge_colors[tok], lw=1.6, zorder=1)
    for lev in range(L + 1):
        used = set().union(*(c[lev] for c in cones.values()))
        for x in xs:
            if x not in used:
                if kind == "ffa_ape" or x >= 0:                      # APE has no anchors below 0
                    ax.scatter(x, lev, s=40, color="#dddddd", zorder=2)
                continue
            if kind == "ffa_ape" and x < 0:
                style = dict(facecolor="white", edgecolor="grey", label="zero padding")
            elif lev == 0 and kind == "ffa_ape" and x == 0:
                style = dict(color="#ff7f0e", label="learned constant $c_0^m$")
            elif lev == 0:
                style = dict(color="#4c72b0", label="noise $z_k$")
            elif lev == L:
                style = dict(color="#2ca02c", label="token $u_k$")
            else:
                style = dict(color="#a58fd0", label="hidden layer")
            ax.scatter(x, lev, s=150, zorder=3, linewidths=1.5, **style)
    ax.scatter(t / delta, L + 1, s=220, marker="*", color="black", zorder=3, label=f"$v_{{{t}}}$")
    ax.set_yticks(range(L + 2), ["noise"] + [f"layer {i}" for i in range(1, L)] + ["tokens", "v"])
    ax.set_xticks(list(xs), [f"{x}" for x in xs])
    ax.set_xlabel(f"anchor index k (anchor at t = {delta}k)")
    ax.set_title({"ape": "APE (StyleGAN-V): padding-less convolutions",
                  "ffa_ape": "FFA-APE (StyleInV): left-sided convolutions"}[kind], fontsize=10)
    ax.set_ylim(-0.5, L + 1.5)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


fig, axes = plt.subplots(1, 2, figsize=(11, 3.4), sharey=True)
for ax, kind in zip(axes, ("ape", "ffa_ape")):
    draw_cone(ax, kind)
handles = {}
for ax in axes:
    for h, lab in zip(*ax.get_legend_handles_labels()):
        handles.setdefault(lab, h)
fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=6, fontsize=8, frameon=False)
fig.suptitle("what v_16 reads (red: through $u_0$, blue: through $u_1$); Δ = 32, K = 3, L = 2", fontsize=10)
plt.tight_layout(rect=(0, 0.08, 1, 1)); plt.show()
"""),
    md(r"""
The diagram is drawn from the rule "APE reads offsets $0 \dots K-1$, FFA-APE offsets $-r \dots 0$".  The library
should agree, and gradients can tell us what a token *actually* depends on: we feed the network noise that
requires gradients, differentiate one token, and list the anchors whose noise receives a non-zero gradient.
"""),
    code("""
def true_inputs(kind, token, K=3, L=2):
    \"\"\"Noise anchors (and c0) that token u_token really depends on, found by differentiation.\"\"\"
    torch.manual_seed(1)
    m = MotionEncoder(kind, motion_dim=4, noise_dim=3, anchor_spacing=32, kernel_size=K, num_layers=L)
    Z = torch.randn(1, 64, 3, requires_grad=True)                    # noise of one video, anchors 0..63
    u = m.tokens(lambda video, anchor: Z[video, anchor], torch.tensor([0]), torch.tensor([token]), count=1)
    (u * torch.randn_like(u)).sum().backward()
    grad = torch.zeros_like(Z) if Z.grad is None else Z.grad        # None: no noise was read at all
    anchors = sorted(int(a) for a in (grad[0].abs().sum(dim=1) > 0).nonzero().flatten())
    return anchors, m.c0 is not None and bool(m.c0.grad.abs().sum() > 0)


for K_, L_ in ((3, 2), (11, 2)):
    for kind in ("ape", "ffa_ape"):
        for token in (0, 1, 12):
            anchors, reads_c0 = true_inputs(kind, token, K_, L_)
            drawn = cone(kind, token, K_, L_)[0]
            assert anchors == sorted(p for p in drawn if kind == "ape" or p > 0), (kind, token, anchors)
            assert reads_c0 == (kind == "ffa_ape" and 0 in drawn)
            if token < 12 or K_ == 11:
                span = (f"z_{anchors[0]}..z_{anchors[-1]}" if len(anchors) > 1 else
                        f"z_{anchors[0]}" if anchors else "no noise at all")
                print(f"K={K_:2d}  {kind:7s}  u_{token:<2d} reads {span}{' and c0' if reads_c0 else ''}")
print("window of anchors behind one v_t at K = 11:", {n: m.window for n, m in encoders.items()})
"""),
    md(r"""
With the official kernel of 11, APE's $u_0$ reads 21 random vectors and FFA-APE's $u_0$ reads none; FFA-APE's
tokens $u_1, \dots, u_{10}$ still see part of the padding and $c_0^m$, and from $u_{11}$ on a token reads eleven
noise vectors and nothing else.  Keep that boundary, $t = 11\Delta = 176$, in mind for §5.5.

## 5.4 Motion curves: the paper's Figs. 4 and 10 as plots

Now the real thing: eight videos (noise seeds) over the 128 frames of a training clip, for both kinds.  A motion
code has hundreds of coordinates; we plot two of them, $v[0]$ — the sine of the slowest frequency, whose period
is 128 frames before the multiplier $p$ — and $v[F + F/2]$, the cosine of a frequency in the middle of the range
(period about 45 frames).  Dotted lines mark the anchors.

(Principal components are a tempting alternative, but they mislead here: the directions of largest variance
are those of the Fourier wiggle inside the cells, which vanishes at every anchor, so in a PCA plot the curves
nearly meet at $t = 0$ — APE's too.)
"""),
    code("""
seeds8 = torch.arange(8)
t_clip = torch.arange(0, 129.0)
curves = {name: motion(m, seeds8, t_clip) for name, m in encoders.items()}           # (8, 129, D) each
F = ape.motion_dim // 2
coords = {0: "v[0], sin of the slowest frequency", F + F // 2: f"v[{F + F // 2}], cos of a middle frequency"}

fig = make_subplots(rows=2, cols=2, shared_xaxes=True, shared_yaxes="rows", horizontal_spacing=0.05,
                    vertical_spacing=0.08, subplot_titles=list(encoders))
for col, name in enumerate(encoders, start=1):
    for row, c in enumerate(coords, start=1):
        for i in range(len(seeds8)):
            fig.add_trace(go.Scatter(x=t_clip.numpy(), y=r4(curves[name][i, :, c]), mode="lines",
                                     line=dict(color=COLORS[i], width=1.5), name=f"seed {i}",
                                     legendgroup=f"seed {i}", showlegend=(row == 1 and col == 1),
                                     hovertemplate=f"seed {i}<br>t=%{{x}}<br>v[{c}]=%{{y}}<extra></extra>"),
                          row=row, col=col)
for x in range(0, 129, DELTA):
    fig.add_vline(x=x, line=dict(color="#bbbbbb", dash="dot", width=1), row="all", col="all")
for row, label in enumerate(coords.values(), start=1):
    fig.update_yaxes(title_text=label.split(",")[0], row=row, col=1)
fig.update_xaxes(title_text="t (frames)", row=2)
fig.update_layout(height=560, template="plotly_white", margin=dict(t=80),
                  title="two coordinates of v_t for 8 videos (top: " + coords[0] + "; bottom: "
                        + coords[F + F // 2].split(", ")[1] + ")")
fig.show()
"""),
    md(r"""
Every curve is a polyline through its anchor values $A u_k$ with a wiggle in each cell — gentle for the slow
coordinate, a full oscillation for the faster one.  The same two coordinates plotted against each other (each
curve starts at the large dot, $t = 0$, and ends at the small one, $t = 128$) make the difference plain: the APE
curves start wherever their noise puts them, all eight FFA-APE curves leave from one point — the plotting
equivalent of the paper's Fig. 10, where the model without FFA-APE renders a different "first frame" for every
noise sequence.  Look also at the first 16 frames of FFA-APE above: the curves nearly coincide.  In the first
cell the wiggle's periods and phases come from $u_0$, the same for every video, and the videos differ only by the
straight line $\alpha\,(A u_1 - A u_0)$.
"""),
    code("""
cx, cy = coords
fig = make_subplots(rows=1, cols=2, shared_xaxes=True, shared_yaxes=True, subplot_titles=list(encoders),
                    horizontal_spacing=0.05)
for col, name in enumerate(encoders, start=1):
    for i in range(len(seeds8)):
        x, y = r4(curves[name][i, :, cx]), r4(curves[name][i, :, cy])
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", line=dict(color=COLORS[i], width=1.2),
                                 name=f"seed {i}", legendgroup=f"seed {i}", showlegend=(col == 1),
                                 text=t_clip.int().tolist(),
                                 hovertemplate=f"seed {i}, t=%{{text}}<extra></extra>"), row=1, col=col)
        fig.add_trace(go.Scatter(x=x[[0, -1]], y=y[[0, -1]], mode="markers", showlegend=False,
                                 marker=dict(color=COLORS[i], size=[13, 6], line=dict(color="black", width=1)),
                                 legendgroup=f"seed {i}", hoverinfo="skip"), row=1, col=col)
fig.update_xaxes(title_text=f"v[{cx}]")
fig.update_yaxes(title_text=f"v[{cy}]", col=1)
fig.update_layout(height=430, template="plotly_white", title="the same 8 motions in the plane of the two coordinates")
fig.show()
"""),
    md(r"""
## 5.5 The first frame of a hundred videos

The plots show eight videos; the claim is about all of them.  We compute $v_0$ for 100 noise seeds with each kind
and measure how far apart they are.  For FFA-APE the claim is not "small" but **zero**: the hundred vectors are the
same vector.  Computed one video at a time they are the same bits; in one batch of 100, a multi-threaded matrix
product may round the last rows of a block differently, a difference at the last bit of float32 (~1e-8), six
orders of magnitude below APE's spread.
"""),
    code("""
seeds100 = torch.arange(1000, 1100)
t_spread = torch.arange(0, 257, 2.0)
spread, v0_stats = {}, {}
for name, m in encoders.items():
    v = motion(m, seeds100, t_spread)                                            # (100, 129, D)
    spread[name] = torch.stack([torch.pdist(v[:, i]).mean() for i in range(len(t_spread))])
    v0 = v[:, 0]
    d0 = torch.pdist(v0)
    v0_stats[name] = dict(max=d0.max().item(), min=d0.min().item(), mean=d0.mean().item(),
                          identical=bool(d0.max() <= 1e-5),
                          late=spread[name][t_spread >= 176].mean().item(), v=v)
    print(f"{name:8s} v_0 over 100 seeds: pairwise distance min {d0.min():.4f}, mean {d0.mean():.4f}, "
          f"max {d0.max():.2e};  all 100 identical: {v0_stats[name]['identical']};  "
          f"typical distance for t >= 176: {v0_stats[name]['late']:.3f}")
assert v0_stats["FFA-APE"]["identical"]
one_at_a_time = [motion(encoders["FFA-APE"], seeds100[i:i + 1], t_spread[:1])[0, 0] for i in range(10)]
assert all(torch.equal(v, one_at_a_time[0]) for v in one_at_a_time)          # the same bits, video by video
print("FFA-APE v_0 of 10 videos computed one at a time: bit-identical")
assert v0_stats["APE"]["min"] > 0 and v0_stats["APE"]["mean"] > 0.5 * v0_stats["APE"]["late"]
"""),
    md(r"""
How the spread between videos evolves with $t$ — the mean distance between the codes of two different videos at
the same timestamp:
"""),
    code("""
fig = go.Figure()
for name, dash in (("APE", "dash"), ("FFA-APE", "solid")):
    fig.add_trace(go.Scatter(x=t_spread.numpy(), y=r4(spread[name]), mode="lines", name=name,
                             line=dict(dash=dash, width=2)))
fig.add_vline(x=(L * (K // 2) + 1) * DELTA, line=dict(color="grey", dash="dot"),
              annotation_text="FFA tokens stop reading padding / c0", annotation_position="bottom right")
fig.add_vrect(x0=0, x1=128, fillcolor="#eeeeee", opacity=0.4, line_width=0,
              annotation_text="one 128-frame training clip", annotation_position="top left")
fig.update_layout(title="distance between the motion codes of two videos at the same t (100 seeds)",
                  xaxis_title="t (frames)", yaxis_title="mean pairwise ||v_t(a) - v_t(b)||", height=380,
                  template="plotly_white", yaxis_rangemode="tozero")
fig.show()
# FFA-APE, first cell: the videos differ only by alpha * (A u_1(a) - A u_1(b)), so the spread is linear in t
first_cell = (t_spread > 0) & (t_spread <= DELTA)
early, at_delta = spread["FFA-APE"][first_cell], spread["FFA-APE"][t_spread == DELTA]
torch.testing.assert_close(early, t_spread[first_cell] / DELTA * at_delta, rtol=1e-3, atol=1e-5)
# APE: the spread of v_0 is that of any other anchor
later = spread["APE"][(t_spread % DELTA == 0) & (t_spread > 0)]
at_anchors = later.mean().item()
print(f"APE: mean distance at t = 0 {spread['APE'][0]:.3f}; at the {len(later)} later anchors {at_anchors:.3f} "
      f"(from {later.min():.3f} to {later.max():.3f})")
assert 0.9 < spread["APE"][0].item() / at_anchors < 1.1
"""),
    md(r"""
APE's curve repeats the same pattern in every cell — lowest at the anchors, where $v = A u_k$, highest in the
middle of a cell, where the Fourier wiggle adds its share — and its first cell is no different from the others:
the first frame of an APE video is as random as frame 80.  FFA-APE starts at exactly zero.  In the first cell the
spread grows linearly, since the videos differ only by $\alpha\,(A u_1 - A u_0)$; from the second cell on the
wiggle, now driven by random tokens, separates them further; and the spread at the anchors keeps growing while
the tokens still read part of the padding and $c_0^m$, until it settles at APE's level from $t = 11\Delta = 176$
on.  With the face configuration ($\Delta = 16$, $K = 11$), that ramp is longer than a whole
128-frame training clip: every timestamp StyleInV trains on lies in the stretch where the statistics of $v_t$
still depend on $t$.  The untrained network ramps up by construction; whether training keeps, steepens or
flattens the ramp is a question for the trained model of chapter 6.

Why a random $v_0$ is worse than it sounds: for APE, the code of frame 0 is not only random, it is
*indistinguishable* from the code of any anchor later in the video, because all tokens are the same function of
i.i.d. noise.  A nearest-neighbour test makes this concrete — take the codes at $t = 0$ and at $t = 64$ (also an
anchor) of the 100 videos, and ask, for each $t = 0$ code, whether its nearest neighbour among the *other* videos'
codes is also a $t = 0$ code:
"""),
    code("""
def first_frame_nn_rate(v_first, v_later):
    \"\"\"Fraction of t=0 codes whose nearest code of another video is also a t=0 code (0.5 = cannot tell).\"\"\"
    n = len(v_first)
    pool = torch.cat([v_first, v_later])
    d = torch.cdist(v_first, pool)
    d[:, :n].fill_diagonal_(float("inf")); d[:, n:].fill_diagonal_(float("inf"))   # not the same video
    return (d.argmin(dim=1) < n).float().mean().item()


i64 = int((t_spread == 64).nonzero())
nn_rate = {name: first_frame_nn_rate(s["v"][:, 0], s["v"][:, i64]) for name, s in v0_stats.items()}
print({name: f"{rate:.0%}" for name, rate in nn_rate.items()})
assert 0.3 < nn_rate["APE"] < 0.7 and nn_rate["FFA-APE"] == 1.0
"""),
    md(r"""
For APE the rate is about a coin flip: nothing in $v_0$ says "first frame".  The reconstruction loss, which wants
$E(G(w_0), [v_0, w_0]) = 0$, then has only bad options: ignore $v$ (and lose the motion), or give up on
reconstructing frame 0.  For FFA-APE, $v_0$ is a single point the encoder can learn to map to a zero residual,
while the motion codes of later frames stay free.

## 5.6 Smooth at every $t$, including the anchors

The speed of the code, $\lVert v_{t+\varepsilon} - v_t \rVert / \varepsilon$ with $\varepsilon = 0.01$, on a grid
of steps that straddle every quarter frame — and therefore every anchor.  Inside a cell the derivative of the
formula is bounded:

$$
\Big\lVert \frac{dv}{dt} \Big\rVert
\le \underbrace{\lVert \omega \odot p \rVert}_{\le\, 2\lVert\omega\rVert}
+ \frac{\lVert \mathrm{PE}(t_r) - \mathrm{PE}(t_l) \rVert}{\Delta}
+ \frac{\lVert A u_r - A u_l \rVert}{\Delta}
\le 2\lVert\omega\rVert + \frac{2\sqrt{F} + \max_k \lVert A u_{k+1} - A u_k\rVert}{\Delta},
$$

and continuity at the anchors extends the bound to all $t$.  As a counterfactual we also compute the same
ingredients *without* the chord, $\tilde v_t = \mathrm{PE}(t) + (1-\alpha) A u_l + \alpha A u_r$: there the Fourier
part switches to the next token's periods and phases at every anchor.
"""),
    code("""
eps = 0.01
grid = torch.arange(1, 4 * 128 + 1) * 0.25
t_a = torch.cat([torch.zeros(1), grid - eps / 2])           # [0, 0.01], then steps straddling 0.25, 0.5, ...
t_b = t_a + eps


@torch.no_grad()
def motion_without_chord(m, seeds, t):
    \"\"\"v~_t = PE(t) + lerp(A u_l, A u_r, alpha): the aligned formula minus its chord term.\"\"\"
    b, n = len(seeds), len(t)
    tt = t.repeat(b)
    left = torch.floor(tt / m.anchor_spacing).long()
    alpha = (tt / m.anchor_spacing - left)[:, None]
    video = torch.arange(b).repeat_interleave(n)
    keys, inverse = torch.unique(video * 10**6 + left, return_inverse=True)
    u = m.tokens(SeededAnchorNoise(seeds, m.noise_dim), keys // 10**6, keys % 10**6, count=2)[inverse]
    v = m.positional(tt, u[:, 0]) + torch.lerp(m.aligners(u[:, 0]), m.aligners(u[:, 1]), alpha)
    return v.reshape(b, n, -1)


slopes, bounds = {}, {}
for name, m in encoders.items():
    slopes[name] = (motion(m, seeds8, t_b) - motion(m, seeds8, t_a)).norm(dim=-1) / eps        # (8, 513)
    with torch.no_grad():
        ks = torch.arange(0, 10)
        u = m.tokens(SeededAnchorNoise(seeds8, m.noise_dim), torch.arange(len(seeds8)).repeat_interleave(len(ks)),
                     ks.repeat(len(seeds8)), count=2)
        jump = (m.aligners(u[:, 1]) - m.aligners(u[:, 0])).norm(dim=-1).max()
    bounds[name] = (2 * m.freqs.norm() + (2 * math.sqrt(m.motion_dim / 2) + jump) / DELTA).item()
slopes["APE without the chord"] = (motion_without_chord(ape, seeds8, t_b)
                                   - motion_without_chord(ape, seeds8, t_a)).norm(dim=-1) / eps

fig = go.Figure()
styles = {"APE": ("#1f77b4", "dash"), "FFA-APE": ("#ff7f0e", "solid"), "APE without the chord": ("#aaaaaa", "solid")}
for name, (color, dash) in styles.items():
    for i in range(2):
        fig.add_trace(go.Scatter(x=r4(t_a), y=r4(slopes[name][i]), mode="lines", name=f"{name}, seed {i}",
                                 line=dict(color=color, dash=dash, width=1.2 if i else 1.8),
                                 opacity=1 if i == 0 else 0.6))
fig.add_hline(y=max(bounds.values()), line=dict(color="black", dash="dot", width=1),
              annotation_text="bound from the formula", annotation_position="top left")
fig.update_layout(title=f"speed ||v(t+ε) - v(t)|| / ε, ε = {eps}", xaxis_title="t (frames)", yaxis_type="log",
                  yaxis_title="speed (log scale)", height=420, template="plotly_white")
fig.show()

for name in encoders:
    print(f"{name:8s} max speed {slopes[name].max():.3f}, median {slopes[name].median():.3f}, "
          f"bound {bounds[name]:.3f}")
    assert slopes[name].max() <= bounds[name], name
spike = slopes["APE without the chord"].max() / slopes["APE"].max()
where = sorted({round(float(t_a[j]) + eps / 2, 2) for j in slopes["APE without the chord"].argmax(dim=1)})
print(f"without the chord: max speed {slopes['APE without the chord'].max():.1f} ({spike:.0f}x the aligned "
      f"formula's), each video's fastest step at t = {where}")
assert spike > 20, "dropping the chord must make v jump at the anchors"
assert all(w % DELTA == 0 for w in where), "the jumps sit on anchors"
"""),
    md(r"""
Both kinds stay below the bound everywhere, and nothing happens at the anchors beyond a change of direction: $v$
is continuous and Lipschitz but not differentiable there, since the speed steps from one cell's value to the
next.  Without the chord the speed spikes by orders of magnitude exactly at the multiples of 16 — a jump in the
motion code, a jump cut in the video.  The left-sided convolutions of FFA-APE change none of this.

## 5.7 Any length, at the same cost

The formula needs two tokens, and a token needs a fixed window of noise ($L(K-1) + 1$ anchors for APE,
$Lr + 1$ for FFA-APE), so nothing in $v_t$ depends on how long the video is.  The official implementations still
pay for length: they draw the noise of *all* anchors from 0 to $t$ (`torch.randn` over a whole trajectory) and run
the convolutions over all of them — $\lceil t/\Delta \rceil + 2$ anchors, plus $L(K-1) = 20$ for APE — so a frame
at $t = 10{,}000$ costs some 630 anchors.  Because the library makes
the noise of anchor $k$ from (seed, $k$) directly, it generates only the window.  We count the anchors it asks
for, and time a 16-frame clip for 8 videos starting at $t_0$:
"""),
    code("""
class CountingNoise:
    \"\"\"Seeded anchor noise that records the anchors it is asked for.\"\"\"
    def __init__(self, seeds, dim):
        self.inner, self.anchors = SeededAnchorNoise(seeds, dim), []
    def __call__(self, video, anchor):
        self.anchors += anchor.tolist()
        return self.inner(video, anchor)


starts = [10.0, 1_000.0, 10_000.0, 100_000.0]
seconds = {name: {t0: float("inf") for t0 in starts} for name in encoders}
with torch.no_grad():
    for name, m in encoders.items():
        m(seeds8, torch.zeros(8, 16))                                            # warm-up
        for _ in range(7):                                                       # interleaved, best of 7
            for t0 in starts:
                t = (t0 + torch.arange(16.0)).expand(8, -1)
                begin = time.perf_counter()
                m(seeds8, t)
                seconds[name][t0] = min(seconds[name][t0], time.perf_counter() - begin)

rows = ["| kind | t | noise anchors behind one v_t | anchors a whole-trajectory implementation draws "
        "| 8 clips × 16 frames (ms) |", "|---|---|---|---|---|"]
reads = {}
for name, m in encoders.items():
    for t0 in starts:
        counter = CountingNoise([7], m.noise_dim)
        with torch.no_grad():
            m(counter, torch.tensor([[t0]]))
        reads[name, t0] = len(counter.anchors)
        trajectory = math.ceil(t0 / DELTA) + 2 + (L * (K - 1) if m.kind == "ape" else 0)
        rows.append(f"| {name} | {t0:,.0f} | {reads[name, t0]} | {trajectory:,} | {1000 * seconds[name][t0]:.1f} |")
display(Markdown("\\n".join(rows)))

for name, m in encoders.items():
    assert all(reads[name, t0] <= m.window for t0 in starts), "never more than one window of anchors"
    assert all(reads[name, t0] == m.window for t0 in starts if t0 >= (L * (K // 2) + 1) * DELTA)
    ratio = seconds[name][10_000.0] / seconds[name][10.0]
    far = [10_000.0, 10_000.0 + 1_000 * DELTA]    # the same phase between anchors, a thousand anchors further on
    with torch.no_grad():   # counted, not timed: a busy machine cannot upset this check
        flops = [count_flops(lambda t0=t0: m(seeds8, (t0 + torch.arange(16.0)).expand(8, -1)))[1] for t0 in far]
    print(f"{name:8s} time(t=10,000) / time(t=10) = {ratio:.2f}; FLOPs at t = 10,000 and 26,000: {flops}")
    assert flops[0] == flops[1] > 0, "the same arithmetic however far out in time"
"""),
    md(r"""
(A timestamp needs two neighbouring tokens, hence 22 anchors for APE rather than 21, and 12 for FFA-APE.  Near
the start FFA-APE asks for fewer: there the padding and $c_0^m$ take the place of noise, and at $t = 10$ only
anchor 1 is random.)

Cheap is not enough: the values at $t = 10{,}000$ should also look like values at ordinary timestamps — no drift,
no growth.  Their size and their spread across videos, compared with the stationary part of a clip:
"""),
    code("""
far_t = 10_000 + torch.arange(0, 129, 2.0)
for name, m in encoders.items():
    near, far = v0_stats[name]["v"][:, t_spread >= 176], motion(m, seeds100, far_t)
    norm_ratio = far.norm(dim=-1).mean().item() / near.norm(dim=-1).mean().item()
    spread_far = torch.stack([torch.pdist(far[:, i]).mean() for i in range(len(far_t))]).mean().item()
    print(f"{name:8s} mean ||v||: t in [176, 256] {near.norm(dim=-1).mean():.3f}, t in [10000, 10128] "
          f"{far.norm(dim=-1).mean():.3f} (ratio {norm_ratio:.3f});  spread between videos "
          f"{v0_stats[name]['late']:.3f} -> {spread_far:.3f}")
    assert 0.9 < norm_ratio < 1.1 and 0.9 < spread_far / v0_stats[name]["late"] < 1.1
"""),
    md(r"""
One practical limit remains, and it is numerical rather than structural: $v_t$ is computed in float32, so the
phase $\omega p\,t$ carries an absolute rounding error that grows with $t$ (of the order of $10^{-3}$ radians at
$t = 10^4$ and a few hundredths at $t = 10^6$).  For the thousands of frames of chapter 7 that is far below anything
visible.

## 5.8 What the ablation "w/o FFA-APE" measures

The paper's Table 3 replaces FFA-APE by the original APE and keeps everything else (DeeperForensics, lower is
better):

| | FID | FVD$_{16}$ | FVD$_{128}$ |
|---|---|---|---|
| w/o FFA-APE (APE) | 55.26 | 88.98 | 144.52 |
| StyleInV (FFA-APE) | 54.05 | 41.58 | 53.93 |

FID, a per-frame measure, hardly moves: the frames themselves are as good as before.  What breaks is the video.
From this chapter's measurements the mechanism is clear.  With APE, $v_0$ is random (§5.5) and statistically the
same as the code of any other anchor, so the first frame drifts away from $G(w_0)$ (Fig. 10) and the
reconstruction loss of Eq. 4 cannot be satisfied without suppressing motion; the paper reports that this loss
fails to converge and that its gradients also disturb the learning of the positional encoding — hence an
FVD$_{128}$ almost three times higher, not only a worse start.  Chapter 9 trains both variants on SynthFaces and
measures the same three columns.

## Summary

* The motion code $v_t$ carries everything that changes in a StyleInV video: $w_t = w_0 + E(G(w_0), [v_t, w_0])$.
* **APE** (StyleGAN-V): i.i.d. noise at anchors every $\Delta$ frames, padding-less 1-D convolutions into tokens,
  and an aligned Fourier interpolation
  $v_t = \mathrm{PE}(t) - \mathrm{lerp}(\mathrm{PE}(t_l), \mathrm{PE}(t_r), \alpha) + \mathrm{lerp}(A u_l, A u_r, \alpha)$
  that passes through $A u_k$ at every anchor.  It gives a code for any real $t$, on its own, continuous (we
  measured the speed below its analytic bound, with no spike at the anchors; without the chord term it spikes
  by orders of magnitude), acyclic, and — computed from seeded anchors — at a cost that does not depend on $t$
  (never more than one fixed window of anchors, and no more time at $t = 10{,}000$ than at $t = 10$).
* **FFA-APE** (StyleInV) swaps the first anchor's noise for a learned constant $c_0^m$ and makes the convolutions
  left-sided.  Then $u_0$, and with it $v_0 = A u_0$, reads only constants: over 100 noise seeds the FFA-APE
  $v_0$ are the same vector (bit for bit when computed video by video), while APE's are as far apart as the codes at any later anchor and cannot even be
  told apart from them.
* The price of causality: FFA-APE tokens see padding and $c_0^m$ for the first $Lr$ anchors, so the spread
  between videos ramps up over the first 176 frames of the face configuration before settling.
* Next: chapter 6 plugs this module into the modulated inversion encoder and trains it with FFA-ST; the trained
  FFA-APE is analysed there.
"""),
]

write_notebook(cells, "05_ffa_ape.ipynb")
