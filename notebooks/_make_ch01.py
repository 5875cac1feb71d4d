"""Writes notebooks/01_video_data.ipynb (cells only; outputs come from executing it).  Kept beside the notebook so
its text can be reviewed as a diff; run ``python notebooks/_make_ch01.py`` after editing, then re-execute."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import code, install_cell, md, write_notebook  # noqa: E402

cells = [
    md(r"""
# 1. Video data: what an unconditional video generator learns from

```{admonition} Stored outputs
:class: note
The outputs on this page come from running the notebook with the **`cpu`** profile on a 2-core x86-64 CPU
with no GPU (under a minute).  Run it yourself on Colab (rocket icon above) or locally; `STYLEINV_PROFILE`
picks the size.
```

An *unconditional* video generator never sees a label or a prompt.  It is shown a collection of videos, samples
of an unknown distribution $p_v$, and must learn to produce new videos that could have come from it: every frame
must look right (**appearance**) and consecutive frames must fit together (**motion**).  StyleInV splits these two
jobs, as most modern methods do: a StyleGAN2 image generator takes care of appearance, trained on single frames, and
a separate *motion generator* produces a trajectory of latent codes through time.

This chapter is about the data.  We cannot download FaceForensics or SkyTimelapse here, so the library renders its
own datasets, with one advantage over real footage: it knows the **ground truth** — who is in each video and how
their head moves in every frame.  That lets later chapters *measure* claims such as "the latent space is clustered by
identity" (chapter 4) or "the generated video keeps the identity of its first frame" (chapter 9).
"""),
    install_cell(),
    code("""
import numpy as np
import torch
import matplotlib.pyplot as plt
import plotly.graph_objects as go
from IPython.display import Markdown, display

import styleinv_lib as sil
from styleinv_lib.data import FACTOR_NAMES, TEMPERAMENTS, render_face, ART_STYLES
from styleinv_lib.viz import plots, video as vv

profile = sil.get_profile()          # smoke | cpu | gpu, from $STYLEINV_PROFILE or the hardware
plots.setup_plotly()
R = profile.resolution
print(f"profile {profile.name}: {profile.description}; frames are {R}x{R}")
"""),
    md(r"""
## 1.1 SynthFaces: subjects with an identity

SynthFaces imitates the paper's face datasets: one person per video, talking and moving their head in front of a
static background.  Each video's subject is drawn from a space of **identity attributes** — face shape, skin tone,
hair style and colour, eye colour and size, brows, nose, mouth, facial hair, glasses, earrings, a hat, clothes and
background — that stay fixed for the whole video.  Here is a first frame from each of 32 videos:
"""),
    code("""
faces = sil.SynthFaces(resolution=max(R, 64), num_frames=profile.num_frames, seed=0)
first_frames = torch.stack([faces.render(i, t=[0])[0] for i in range(32)])
plots.show_image_grid(first_frames, nrow=8, title="SynthFaces: 32 identities, frame 0")
"""),
    md(r"""
Every video carries its identity as metadata.  A few attributes of the first six subjects:
"""),
    code("""
rows = ["| video | shape | skin tone | hair | eyes | facial hair | glasses | hat |", "|---|---|---|---|---|---|---|---|"]
for i in range(6):
    a = faces.identity(i)
    rows.append(f"| {i} | {a.face_shape} | {a.skin_tone_index} | {a.hair_colour_name} {a.hair_style} | "
                f"{a.eye_colour_name} | {a.facial_hair} | {a.glasses['shape'] if a.glasses else '-'} | "
                f"{a.hat['kind'] if a.hat else '-'} |")
display(Markdown("\\n".join(rows)))
signatures = {sil.data.sample_identity(i).signature() for i in range(1000)}
print(f"{len(signatures)} distinct combinations of categorical attributes among 1,000 identities")
assert len(signatures) >= 980, "identities must look distinct"
"""),
    md(r"""
## 1.2 Motion: smooth factors in continuous time

Motion is described by eleven **factors** per frame: head yaw, pitch and roll, translation and zoom, eye blinks,
mouth opening, brow raises and gaze.  Head rotation is drawn in "2.5-D": a feature at angle $\varphi$ around the
head moves to $r_x \sin(\varphi + \text{yaw})$ and is squashed by $\cos(\varphi + \text{yaw})$, so the nose moves
further than the eyes and the face seems to turn rather than slide.

Every factor is a smooth function of a *real-valued* time $t$ (sums of sinusoids, bumps at random blink times, a
syllable rhythm gated by a talking envelope).  This matters for the rest of the book: StyleInV, like StyleGAN-V, is
a *continuous-time* generator that can be asked for any timestamp, and its training data should be smooth in $t$ too.
Every eighth frame of one video:
"""),
    code("""
video = faces.render(3)
strip = video[::8][:16]
plots.show_image_grid(strip, nrow=16, title="video 3, every 8th frame", size=1.1)
"""),
    md(r"""
And the videos themselves.  They are embedded in the page as H.264 mp4, so they play in the static book too:
"""),
    code("""
clips = [faces.render(i) for i in range(4)]
vv.show_video(vv.video_grid(clips, nrow=4), fps=12, width=720)
"""),
    md(r"""
The ground-truth factor trajectories of video 3 (hover to read values, click the legend to hide a curve):
"""),
    code("""
factors = faces.factors(3)
fig = go.Figure()
for name in FACTOR_NAMES:
    fig.add_trace(go.Scatter(y=factors[name], mode="lines", name=name))
fig.update_layout(title="SynthFaces video 3: per-frame factors", xaxis_title="frame t", yaxis_title="value",
                  height=420, template="plotly_white")
fig.show()
"""),
    md(r"""
Two claims this dataset must satisfy, checked here on many videos:

1. **Identity is constant within a video.** In the neutral pose (all motion factors at rest) the picture depends on
   the identity alone, so two videos of the same subject must render *exactly* the same neutral frame.
2. **Trajectories are smooth.** No factor jumps by more than a small bound between consecutive frames (a blink, the
   fastest motion, takes about four frames).
"""),
    code("""
same_subject = sil.SynthFaces(resolution=R, num_frames=profile.num_frames, seed=0, videos_per_identity=2)
neutral = {k: np.array([1.0 if k == "zoom" else 0.0]) for k in FACTOR_NAMES}
for vid in range(0, 20, 2):
    a = render_face(same_subject.identity(vid), neutral, R)
    b = render_face(same_subject.identity(vid + 1), neutral, R)
    assert torch.equal(a, b), f"videos {vid} and {vid+1} share an identity but differ in the neutral pose"
    assert same_subject.video_metadata(vid)["factors"] != same_subject.video_metadata(vid + 1)["factors"]

max_step = {k: 0.0 for k in FACTOR_NAMES}
for vid in range(100):
    f = faces.factors(vid)
    for k in FACTOR_NAMES:
        max_step[k] = max(max_step[k], float(np.abs(np.diff(f[k])).max()))
print("largest one-frame change over 100 videos:", {k: round(v, 3) for k, v in max_step.items()})
assert max_step["yaw"] < 0.2 and max_step["roll"] < 0.06 and max_step["blink"] < 0.85
"""),
    md(r"""
## 1.3 Temperaments: motion statistics differ between videos

Real datasets mix calm newsreaders with animated speakers.  Each SynthFaces video draws a **temperament** — calm,
talkative, nodder, animated or drowsy — that scales head motion, talking time, blink rate and brow activity.  A
video generator has to cover this whole range instead of producing one average motion (the "motion collapse" that
chapter 9 looks for).
"""),
    code("""
speed, talk, blinks = {}, {}, {}
for name in TEMPERAMENTS:
    s, t_, b = [], [], []
    for seed in range(30):
        f = sil.data.FaceMotion.sample(np.random.default_rng(seed), 256, name).factors(np.arange(256.0))
        s.append(np.degrees(np.abs(np.diff(f["yaw"]))).mean()); t_.append((f["mouth_open"] > 0.2).mean())
        b.append((np.diff((f["blink"] > 0.5).astype(int)) == 1).sum() / 256 * 25 * 60)
    speed[name], talk[name], blinks[name] = np.mean(s), np.mean(t_), np.mean(b)
fig = go.Figure([go.Bar(name="head yaw speed (deg/frame)", x=list(TEMPERAMENTS), y=list(speed.values())),
                 go.Bar(name="talking (fraction of frames)", x=list(TEMPERAMENTS), y=list(talk.values())),
                 go.Bar(name="blinks per minute / 10", x=list(TEMPERAMENTS), y=[v / 10 for v in blinks.values()])])
fig.update_layout(barmode="group", title="Motion statistics per temperament (30 videos each)", height=380,
                  template="plotly_white")
fig.show()
assert speed["animated"] > 3 * speed["calm"] and talk["talkative"] > 3 * talk["calm"]
"""),
    md(r"""
## 1.4 SynthSky: global motion without a subject

The paper reports its weakest results on SkyTimelapse (§5.1): there is no subject whose identity anchors the
latent trajectory, and the whole picture moves.  SynthSky reproduces that setting: clouds made of several octaves of
value noise drift with the wind (finer octaves a little faster, which shears them), change shape slowly, and the
sky colour drifts, e.g. from afternoon to dusk.  There is no identity to keep — only global factors.
"""),
    code("""
sky = sil.SynthSky(resolution=max(R, 64), num_frames=profile.num_frames, seed=0)
plots.show_image_grid(torch.cat([sky.render(i, t=np.arange(0, 128, 32)) for i in range(3)]), nrow=4,
                      title="SynthSky: three videos, frames 0, 32, 64, 96", size=1.6)
vv.show_video(vv.video_grid([sky.render(i) for i in range(3)], nrow=3), fps=12, width=560)
"""),
    md(r"""
## 1.5 The same faces in other art styles

Chapter 8 fine-tunes the image generator on another domain and replays the same motion in it (§3.5).  The target
domains are still-image sets rendered from the same parametric faces — flat **toon** shading with outlines, a pencil
**sketch** and a posterised **pop-art** print — from other identities than the video set, as the paper's art
portraits show other people than its videos.
"""),
    code("""
rows = [torch.stack([sil.StyleImages(style=s, resolution=max(R, 64)).render(i) for i in range(8)]) for s in ART_STYLES]
plots.show_image_grid(torch.cat(rows), nrow=8, title="toon / sketch / pop-art image sets")
"""),
    md(r"""
## 1.6 On disk: StyleGAN-V's layout, and real datasets

`styleinv data synthfaces --out DIR --videos N --frames T --resolution R` writes the dataset in the layout that
StyleGAN-V and the official StyleInV code read: **one folder per video holding numbered frames**, plus a
`metadata.json` with every identity and every frame's factors.  `VideoFolder` reads that layout, folders of video
files (mp4, avi, webm) and zip files of either, resizes and centre-crops to the training resolution, and refuses bad
input with an error that names the file.  A real dataset loads the same way, e.g.
`sil.VideoFolder("~/datasets/FaceForensics_256", resolution=256, mode="clips")` for FaceForensics frames
prepared as in StyleGAN-V, or a folder of SkyTimelapse or TaiChi mp4 files.
"""),
    code("""
import tempfile, pathlib
from styleinv_lib.data import export_synthfaces

root = pathlib.Path(tempfile.mkdtemp()) / "synthfaces"
export_synthfaces(root, num_videos=8, num_frames=48, resolution=R, seed=0, progress=False)
print(sorted(p.name for p in root.iterdir())[:5], "...")
print(sil.inspect_dataset(root).format())
"""),
    code("""
frames_ds = sil.VideoFolder(root, resolution=R, mode="frames")
item = frames_ds[50]
print(f"{len(frames_ds)} frames; item: image {tuple(item['image'].shape)} {item['image'].dtype}, "
      f"video {item['video']}, frame {item['frame']}")
# reading back gives exactly the rendered frame (PNG is lossless and the size already matches)
same = sil.SynthFaces(resolution=R, num_frames=48, seed=0).render(item["video"], t=[item["frame"]])[0]
assert torch.equal(item["image"].permute(1, 2, 0), same)
"""),
    md(r"""
## 1.7 Sparse clips: what the video discriminator sees

StyleInV never feeds a whole video to its discriminator.  Following StyleGAN-V's *sparse training*, each training
example is a handful of frames at random timestamps, and the discriminator is told the time gaps between them.
StyleInV's first-frame-aware variant (FFA-ST, §3.4) always includes the **first frame** $t_0 = 0$ of the clip, the
frame its generator starts from, plus three more: $t_0 = 0 < t_1 < t_2 < t_3 \le d_{\max}$.  The library's
default sampler (`scheme="compact"`) draws the span $t_3$ first, uniformly in $[3, d_{\max}]$, then $t_1 < t_2$
uniformly below it, and a start for the clip anywhere in the video where it fits.

The official code does something subtly different (`scheme="official"`, from its `training/sampling.py`): it cuts a
128-frame window, keeps the window's first frame as $t_0$, draws a span $d \in \{2, 4, 8, 16, 32\}$ for the other
three frames and places them *anywhere* in the window, so $t_1$ may be far from $t_0$ (or even equal to it).  Each
row of the plots below is one sampled clip.
"""),
    code("""
sampler = sil.SparseClipSampler(max_distance=profile.max_clip_distance)
official = sil.SparseClipSampler(max_distance=32, scheme="official")
clips_ds = sil.VideoFolder(root, resolution=R, mode="clips", clip_sampler=sampler, seed=0)
rng = np.random.default_rng(0)
ts = np.stack([clips_ds[i]["timestamps"].numpy() for i in range(len(clips_ds))] +
              [sampler.timestamps(rng) for _ in range(300)])
ts_official = np.stack([official.timestamps(rng) for _ in range(300)])
assert (ts[:, 0] == 0).all() and (np.diff(ts, axis=1) > 0).all() and (ts[:, -1] <= profile.max_clip_distance).all()
assert (ts_official[:, 0] == 0).all() and (ts_official[:, 3] - ts_official[:, 1] <= 32).all()

fig, axes = plt.subplots(1, 3, figsize=(13, 3.3))
for ax, data, name in [(axes[0], ts, "compact (default)"), (axes[1], ts_official, "official")]:
    for k, c in enumerate(["k", "C0", "C1", "C2"]):
        ax.scatter(data[:50, k], np.arange(50), s=9, c=c, label=f"t{k}")
    ax.set_title(f"scheme = {name}"); ax.set_xlabel("frames after t0"); ax.set_ylabel("clip")
axes[0].legend(loc="lower right")
axes[2].hist([ts[:, 3] - ts[:, 1], ts_official[:, 3] - ts_official[:, 1]], bins=np.arange(0, 34) - 0.5,
             label=["compact", "official"])
axes[2].set_xlabel("t3 - t1"); axes[2].set_ylabel("count"); axes[2].legend()
plt.tight_layout(); plt.show()
"""),
    code("""
clip = clips_ds[1]
print("timestamps", clip["timestamps"].tolist(), "from frame", clip["start"])
plots.show_image_grid(clip["frames"].permute(0, 2, 3, 1), nrow=4,
                      titles=[f"t{k} = {t}" for k, t in enumerate(clip["timestamps"].tolist())], size=1.8)
"""),
    md(r"""
## 1.8 SynthFaces version 2: identity is the face alone

Version 1 of SynthFaces, the one shown above and the one the committed models of this book were trained on, has two
weaknesses that a careful reader of later chapters will notice.  The shirt and the background belong to the
*identity*, so the raw pixels of a frame already say who it is (chapter 4's pixel baseline finds the same person
across videos every time, for a trivial reason); and at the $32^2$ the `cpu` models train at, the motion is small
— a head turn of a few pixels, a mouth one pixel tall.  **Version 2** (`SynthFaces(version=2)`,
`styleinv data synthfaces --synthfaces-version 2`) changes both:

* the **scene** — clothes, hat, background (with an optional panel behind the subject), the direction of the light,
  exposure, white balance and the framing of the crop — is drawn *per video*, from a random stream that never
  sees the identity (`sil.data.VideoScene`, saved in `metadata.json` beside the identity and the factors);
* the crop is tighter and the **motion** wider and quicker: head turns up to 0.7 rad, nods in every temperament,
  blinks about twice as often, more talking and a mouth that opens wider.

The same two people in both versions, two videos each, sixteen consecutive frames at $32^2$:
"""),
    code("""
strips = {v: sil.SynthFaces(resolution=32, num_frames=16, seed=0, videos_per_identity=2, version=v) for v in (1, 2)}
plots.show_image_grid(torch.cat([strips[v].render(i) for v in (1, 2) for i in range(4)]), nrow=16, size=0.75,
                      title="two people, two videos each: rows 1-4 version 1, rows 5-8 version 2 (a scene per video)")
"""),
    md(r"""
Both claims, measured.  For the motion: the range of the head turn within each 16-frame window, and the share of
windows that hold a blink or a spoken syllable.  For the identity: the k-NN test of chapter 4 on raw pixels —
frames of 60 people, two videos each, and for every frame the five nearest frames *from other videos*.
"""),
    code("""
from styleinv_lib.metrics.clustering import chance_accuracy, knn_identity_accuracy

def window_motion(ds, videos=60):
    turn, event = [], []
    for i in range(videos):
        f = ds.factors(i)
        for s in range(0, ds.num_frames - 16 + 1, 16):
            w = slice(s, s + 16)
            turn.append(np.ptp(f["yaw"][w]))
            event.append(f["blink"][w].max() > 0.5 or np.ptp(f["mouth_open"][w]) > 0.3)
    return float(np.median(turn)), float(np.mean(event))

def pixel_knn(version, people=60, frames=4):
    ds = sil.SynthFaces(resolution=32, num_frames=128, seed=11, videos_per_identity=2, version=version)
    x = torch.cat([ds.render(v, t=np.linspace(0, 120, frames)) for v in range(2 * people)])
    video = torch.arange(2 * people).repeat_interleave(frames)
    return knn_identity_accuracy(x.float().flatten(1), video // 2, k=5, groups=video), chance_accuracy(video // 2)

rows = ["| version | median head turn in 16 frames (rad) | 16-frame windows with a blink or a syllable | "
        "pixel k-NN identity, other videos (chance) |", "|---|---|---|---|"]
measured = {}
for v in (1, 2):
    turn, events = window_motion(sil.SynthFaces(num_frames=128, seed=0, version=v))
    knn, chance = pixel_knn(v)
    measured[v] = dict(turn=turn, events=events, knn=knn)
    rows.append(f"| {v} | {turn:.2f} | {events:.0%} | {knn:.3f} ({chance:.3f}) |")
display(Markdown("\\n".join(rows)))
assert measured[2]["turn"] > 3 * measured[1]["turn"] and measured[2]["events"] > 0.8, "motion legible in 16 frames"
assert measured[1]["knn"] > 0.95 and measured[2]["knn"] < measured[1]["knn"] - 0.1, "pixels lose the easy cue"
"""),
    md(r"""
In version 2 the pixels no longer hand over the identity: a frame's nearest frames from other videos are often
someone else in a similar scene.  Recognising the person now takes what an inversion encoder is supposed to learn,
the face; that is the test chapter 4 will run on models trained on version 2.  Until those models replace the
committed ones, the later chapters read version 1, the data their models were trained on.
"""),
    md(r"""
## Summary

* SynthFaces gives subject-centric talking-head videos with a fixed identity per video and smooth, continuous
  motion in eleven ground-truth factors; temperaments make motion statistics vary between videos.
* Version 2 makes identity the face alone (clothes, background and light per video) and the motion legible at
  $32^2$; raw pixels then stop telling people apart.
* SynthSky gives global-motion timelapses with no identity: the setting where the paper's method is weakest.
* The art-style image sets are ready for the style-transfer chapter.
* Everything is stored in StyleGAN-V's folder-of-frames layout and read back by `VideoFolder`, which also reads
  video files and zips; the FFA-ST sampler always includes the clip's first frame.

Next, chapter 2 trains the StyleGAN2 image generator on these frames.
"""),
]

write_notebook(cells, "01_video_data.ipynb")
