"""Named, declarative experiments for the evaluation chapter: train (or resume), evaluate, one JSON row each.

Each :class:`Experiment` is a StyleInV configuration — the full model or one of the paper's Table 3 ablations —
or the autoregressive baseline (:mod:`styleinv_lib.train.autoregressive`, MoCoGAN-HD-style), with the paper's
DeeperForensics numbers beside it.  :func:`run_experiment` trains it into
``<root>/<name>-<profile>/`` (resuming a run left there; one trained with another configuration is kept aside as
``<name>-<profile>.superseded-<n>``, never resumed or deleted), evaluates it with

* the metrics protocol (:mod:`styleinv_lib.metrics.protocol`: FID, FVD16 and, outside ``smoke``, FVD128, at the
  profile's protocol sizes; the ``gpu`` profile is the paper's protocol: StyleGAN-V's FVD, StyleInV's FID), and
* on SynthFaces data, the probe metrics (:mod:`styleinv_lib.metrics.groundtruth`: identity preservation over
  16 / 128 / 1,024 frames, first-frame error, motion statistics against the real videos'); on other data (a real
  face dataset, SynthSky) they would mean nothing, and the row says they were skipped,

and appends one row to ``<root>/results.jsonl``.  Two reference rows, evaluated the same way, say what a number
means at the profile's protocol size: held-out real videos (the floor) and the image generator held still (the
price of no motion).  Re-running skips an experiment whose row is there for the same
configuration and training seed (a hash of the configuration, seed included, is stored in the row), so
``styleinv experiment all --seeds 0,1,2`` picks up where it stopped; seeds may run as parallel one-thread chains
(the results file is locked while a row is added).  ``styleinv experiment status`` (:func:`experiment_status`)
reads where such a re-run stands, without touching it.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from .fileio import atomic_write_text
from .profiles import get_profile

RESULTS_FILE = "results.jsonl"


@dataclass(frozen=True)
class Experiment:
    """One row of the evaluation: a configuration (``overrides`` of the profile's preset) of a ``kind`` of model."""

    name: str
    description: str
    overrides: dict = field(default_factory=dict)
    paper_row: str = ""                          # the paper's row (Table 3, or Table 1 for the baseline)
    paper: dict = field(default_factory=dict)    # its FID / FVD16 / FVD128 on DeeperForensics 256²
    kind: str = "styleinv"                       # "styleinv", "autoregressive", or a reference: "real", "static"


#: The full model and the Table 3 ablations, with the paper's numbers (Table 3, DeeperForensics 256²).
EXPERIMENTS = {e.name: e for e in (
    Experiment("full", "StyleInV: FFA-APE, encoder-initialised modulated inversion, FFA-D, first-frame L2", {},
               "#5 Ours", {"fid": 54.05, "fvd16": 41.58, "fvd128": 53.93}),
    Experiment("no_encoder", "w/o inversion encoder: the temporal style, read out by a layer that starts at zero, "
               "is the residual, w_t = w0 + A s_t + b",
               {"use_encoder": False, "encoder": ""}, "#1 w/o inversion encoder",
               {"fid": 54.35, "fvd16": 59.49, "fvd128": 152.82}),
    Experiment("ape", "w/o FFA-APE: StyleGAN-V's acyclic positional encoding (v_0 depends on the noise)",
               {"motion_kind": "ape"}, "#2 w/o FFA-APE", {"fid": 55.26, "fvd16": 88.98, "fvd128": 144.52}),
    Experiment("no_ffa_d_no_l2", "w/o FFA-D and w/o the first-frame L2 (Eq. 4)",
               {"first_frame_in_d": False, "lambda_recon": 0.0}, "#3 w/o Eq.(4) & FFA-D",
               {"fid": 52.55, "fvd16": 67.43, "fvd128": 58.88}),
    Experiment("no_ffa_d", "w/o FFA-D, with the first-frame L2", {"first_frame_in_d": False}, "#4 w/o FFA-D",
               {"fid": 53.95, "fvd16": 86.32, "fvd128": 59.76}),
    Experiment("paper_d", "the paper's objective: without the real clips held still for D and the leap penalty "
               "that the cpu preset adds (lambda_d_slow = lambda_uneven = 0; the same as full where the preset has "
               "neither)", {"lambda_d_slow": 0.0, "lambda_uneven": 0.0}),
    Experiment("autoregressive", "MoCoGAN-HD-style baseline: an LSTM walk in W from w0, 16-frame clips, dense 3-D D",
               {}, "Table 1 MoCoGAN-HD", {"fid": 135.30, "fvd16": 101.07, "fvd128": 610.30}, kind="autoregressive"),
    Experiment("real_heldout", "reference: held-out real videos (not in the real statistics), the metrics' floor at "
               "this protocol size", kind="real"),
    Experiment("static", "reference: the StyleGAN2 generator's images held still, what the metrics charge for no "
               "motion", kind="static"),
)}
#: The paper's Table 1 rows for StyleInV and MoCoGAN-HD (the autoregressive model our baseline follows), per
#: dataset at 256² under the paper's protocol (StyleInV's FID, StyleGAN-V's FVD): FID / FVD16 / FVD128.  SynthFaces
#: stands in for the face datasets, SynthSky for SkyTimelapse.
PAPER_TABLE1 = {
    "DeeperForensics": {name: EXPERIMENTS[name].paper for name in ("full", "autoregressive")},
    "FaceForensics": {"full": {"fid": 12.06, "fvd16": 47.88, "fvd128": 103.63},
                      "autoregressive": {"fid": 24.45, "fvd16": 112.67, "fvd128": 486.69}},
    "TaiChi": {"full": {"fid": 41.55, "fvd16": 185.72, "fvd128": 328.90},
               "autoregressive": {"fid": 73.61, "fvd16": 315.03, "fvd128": 622.95}},
    "SkyTimelapse": {"full": {"fid": 14.32, "fvd16": 77.04, "fvd128": 194.25},
                     "autoregressive": {"fid": 251.81, "fvd16": 696.58, "fvd128": 4116.03}},
}
#: The official sky configuration (``configs/sky.yaml``: ``motion_z_distance: 128``, ``min_period_len: 32``,
#: ``max_period_len: 1024``), which StyleInV takes on SynthSky in place of the face configuration (Δ = 16, periods
#: 16-128).  The clip spans stay the profile's: the cpu profile's 128-frame videos leave no room for 128-frame spans.
SKY_SETTINGS = {"anchor_spacing": 128, "min_period": 32.0, "max_period": 1024.0}
#: Kinds that train nothing: reference rows that say what a number means at this protocol size.
REFERENCE_KINDS = ("real", "static")


def protocol_metrics(profile: str) -> tuple[str, ...]:
    """FID and FVD16 always; FVD128 (128-frame I3D clips, the slow one) outside the smoke profile."""
    return ("fid", "fvd16") if get_profile(profile).name == "smoke" else ("fid", "fvd16", "fvd128")


def horizons(profile: str) -> tuple[int, ...]:
    """Identity-preservation horizons: the paper's long-video question at 16, 128 and 1,024 frames."""
    return (16,) if get_profile(profile).name == "smoke" else (16, 128, 1024)


#: StyleInV settings in which the experiments keep the recipe their committed rows were trained with, where the
#: profile's preset (the chapter 6 model) has since moved on.  The cpu preset now trains 48 kimg with FFA-APE
#: periods from 4 frames and, from 36 kimg, a leap penalty on the frames; chapter 9's rows were trained at 24 kimg
#: with periods from Δ = 16 (``min_period`` None) and no frame penalty: StyleInV rows of seven experiments, three
#: seeds and two datasets, 7.4 hours of one-thread training, which a retraining at 48 kimg would take twice
#: over.  ``tests/test_experiments.py`` checks every committed row.
EXPERIMENT_SETTINGS = {"cpu": {"total_kimg": 24.0, "min_period": None, "lambda_frame_leap": 0.0}}


def experiment_config(exp: Experiment, profile, *, data, generator, encoder, **overrides):
    """The config of ``exp`` under ``profile``: paths, then ``overrides`` (those the kind's config has: StyleInV
    sizes do not apply to the baseline; ``None`` leaves a value as it is), then the experiment's own switches; a
    StyleInV setting that none of them gives takes its value from :data:`EXPERIMENT_SETTINGS`, else the preset's."""
    from dataclasses import fields, replace

    name = get_profile(profile).name
    pinned = {}
    if exp.kind == "autoregressive":
        from .train.autoregressive import AutoregressiveConfig as Config, config_for_profile
        values = {"data": str(data), "generator": str(generator)}
    else:
        from .train.styleinv import StyleInVConfig as Config, config_for_profile
        values = {"data": str(data), "generator": str(generator), "encoder": str(encoder or "")}
        pinned = EXPERIMENT_SETTINGS.get(name, {})
    known = {f.name for f in fields(Config)}
    values.update({k: v for k, v in overrides.items() if k in known and v is not None})
    values.update(exp.overrides)
    cfg = config_for_profile(name, **values)
    pinned = {k: v for k, v in pinned.items() if k not in values}
    return replace(cfg, **pinned) if pinned else cfg


#: Settings that may differ between a run left in the root and the experiment's configuration without making the
#: run stale: where it runs, and how long and how often it snapshots (resuming extends or shortens training).
_RESUMABLE_CHANGES = frozenset({"device", "total_kimg", "snapshot_kimg", "keep_snapshots"})
#: StyleInV settings added after rows were committed, with the behaviour every run had before they existed.
_BEFORE_THE_SETTING = {"still_start": False, "d_lazy_adam_correction": False, "mbstd_group": 4, "x0_noise": "const",
                       "lambda_d_slow": 0.0, "d_slow_max": 0.25, "lambda_uneven": 0.0, "uneven_frames": 4,
                       "uneven_tolerance": 0.0, "lambda_frame_leap": 0.0,
                       "frame_leap_tolerance": 1.5, "frame_leap_kimg": 0.0}


def unused_penalty_settings(values: dict) -> set[str]:
    """The shape settings of the added StyleInV penalties that ``values`` has off (a penalty's shape matters only
    with the penalty on; ``uneven_frames`` is the window both read)."""
    unused = set()
    if not values.get("lambda_uneven", 0.0):
        unused.add("uneven_tolerance")
    if not values.get("lambda_frame_leap", 0.0):
        unused |= {"frame_leap_tolerance", "frame_leap_kimg"}
        if not values.get("lambda_uneven", 0.0):
            unused.add("uneven_frames")
    return unused


def _effective_settings(values: dict, before: dict) -> dict:
    """The settings that change what a run trains: ``skip_bad`` only when on (it changes nothing on good data),
    never ``data_cache_mb`` (speed only), ``still_start`` only without the inversion encoder (with it, every variant
    starts still anyway), the shape of the ``lambda_uneven`` and ``lambda_frame_leap`` penalties only with the
    penalty on, and a setting of ``before`` only where it differs from the behaviour of the runs recorded before it
    existed."""
    values = dict(values)
    if not values.get("skip_bad", True):
        del values["skip_bad"]
    values.pop("data_cache_mb", None)
    if values.get("use_encoder", False):
        values.pop("still_start", None)
    for key in unused_penalty_settings(values):
        values.pop(key, None)
    for key, old in before.items():
        if key in values and values[key] == old:
            del values[key]
    return values


def config_hash(cfg) -> str:
    """A short hash of the configuration's effective settings (leaving out those that change nothing keeps the
    hashes of rows written before the settings existed)."""
    from dataclasses import asdict

    from .train.styleinv import StyleInVConfig

    before = _BEFORE_THE_SETTING if isinstance(cfg, StyleInVConfig) else {}
    settings = _effective_settings(asdict(cfg), before)
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def recipe_hash(cfg) -> str:
    """:func:`config_hash` with the training seed left out: the same for every seed of one experiment's recipe."""
    from dataclasses import replace

    return config_hash(replace(cfg, seed=0))


def row_recipe(row: dict) -> str | None:
    """The recipe hash of a results row (a row of seed 0 written before rows recorded it: its config hash, which is
    the same thing; None for an older row of another seed, or a row without hashes, which cannot tell)."""
    if "recipe_hash" in row:
        return row["recipe_hash"]
    return row.get("config_hash") if row.get("seed", 0) == 0 else None


def check_one_recipe(seeded: dict[str, dict[int, dict]], names) -> None:
    """Refuse to pool training seeds of one experiment that were trained with different recipes (a row left from
    before a preset changed): their mean and spread would measure the change, not the seeds."""
    for name in names:
        recipes: dict[str, list[int]] = {}
        for seed, row in sorted(seeded.get(name, {}).items()):
            if (r := row_recipe(row)) is not None:
                recipes.setdefault(r, []).append(seed)
        if len(recipes) > 1:
            kinds = "; ".join(f"seeds {', '.join(map(str, s))}: recipe {r}" for r, s in recipes.items())
            raise ValueError(f"{name}: its rows were trained with different configurations ({kinds}); move the "
                             "rows of the old configuration to another file before reporting")


def recorded_config_hash(path) -> str:
    """:func:`config_hash` of the StyleInV configuration a run folder, snapshot or exported file records (an export
    keeps its run's configuration), to tell which results row a stored network belongs to."""
    from dataclasses import fields

    from .checkpoint import load_snapshot
    from .loading import resolve_checkpoint
    from .train.styleinv import STAGE, StyleInVConfig

    recorded = load_snapshot(resolve_checkpoint(path), expected_stage=STAGE).config
    known = {f.name for f in fields(StyleInVConfig)}
    return config_hash(StyleInVConfig(**{k: v for k, v in recorded.items() if k in known}))


def _stale_settings(run: Path, cfg) -> list[str]:
    """The settings in which the run left in ``run`` differs from ``cfg`` so that resuming it would train another
    model (empty when there is no run there, or when it may be resumed)."""
    from dataclasses import MISSING, asdict, fields

    config_file = run / "config.json"
    if not config_file.exists():
        return []
    try:
        recorded = json.loads(config_file.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{config_file}: unreadable run configuration ({exc}); move the folder away") from exc
    wanted = _effective_settings(json.loads(json.dumps(asdict(cfg))), {})
    # a setting added to the library after the run started is missing from its config: it had the default then
    # (or the value the library had before the setting existed)
    before = {**{f.name: f.default for f in fields(cfg) if f.default is not MISSING}, **_BEFORE_THE_SETTING}
    return [k for k in wanted if k not in _RESUMABLE_CHANGES and recorded.get(k, before.get(k, ...)) != wanted[k]]


def _set_aside_stale_run(run: Path, cfg) -> Path | None:
    """If ``run`` holds a run trained with another configuration (an older version of the experiment), rename it
    to ``<run>.superseded-<n>`` so that the experiment starts afresh instead of resuming the wrong model; nothing
    is deleted.  Returns the new name, or None when there was nothing to set aside."""
    changed = _stale_settings(run, cfg)
    if not changed:
        return None
    n = 1
    while (aside := run.with_name(f"{run.name}.superseded-{n}")).exists():
        n += 1
    run.rename(aside)
    print(f"{run}: trained with another configuration (differs in {', '.join(changed)}); "
          f"kept as {aside}, training afresh")
    return aside


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def read_results(root, committed=None) -> list[dict]:
    """The rows of ``<root>/results.jsonl``, after those of the committed results file ``committed`` when one is
    given (``checkpoints/experiments_v2_cpu.jsonl``): a fresh checkout, whose ``runs/`` is empty, then knows every
    committed row, and a later row of the same experiment and seed (the root's) wins where rows are keyed."""
    path = Path(root) / RESULTS_FILE
    rows = _read_jsonl(Path(committed)) if committed is not None else []
    return rows + (_read_jsonl(path) if path.exists() else [])


def latest_rows(rows, profile: str, seed: int = 0) -> dict[str, dict]:
    """The rows of ``profile`` trained with ``seed`` (reference rows train nothing and count as seed 0) by
    experiment name; a later row of the same name wins (a rerun after a change)."""
    return {r["experiment"]: r for r in rows if r["profile"] == profile and r.get("seed", 0) == seed}


def rows_by_seed(rows, profile: str) -> dict[str, dict[int, dict]]:
    """Every training seed's row of ``profile``: ``{experiment: {seed: row}}`` (a later row of the same experiment
    and seed wins), for means and spreads over training seeds."""
    out: dict[str, dict[int, dict]] = {}
    for r in rows:
        if r["profile"] == profile:
            out.setdefault(r["experiment"], {})[r.get("seed", 0)] = r
    return out


def results_or_committed(root, profile: str, names, committed: str) -> tuple[dict[str, dict], str]:
    """The rows a chapter shows, by experiment name: those of ``root``'s results for ``profile`` when they cover every
    one of ``names`` (a later row of the same name wins), else those of the committed results file ``committed``
    (a name under ``checkpoints/``, fetched by :func:`~styleinv_lib.loading.checkpoint_path` outside a checkout).
    Returns ``(rows, where they came from)``."""
    from .loading import checkpoint_path

    local = latest_rows(read_results(root), profile)
    if set(local) >= set(names):
        return local, f"{Path(root) / RESULTS_FILE} ({profile} profile)"
    path = checkpoint_path(committed)
    rows = {r["experiment"]: r for r in _read_jsonl(path)}
    missing = set(names) - set(rows)
    if missing:
        raise ValueError(f"{path}: no row for {', '.join(sorted(missing))}")
    return rows, f"checkpoints/{committed} (the committed run)"


def seeded_results_or_committed(root, profile: str, names, committed: str) -> tuple[dict[str, dict[int, dict]], str]:
    """Like :func:`results_or_committed`, with every training seed's row: ``{experiment: {seed: row}}`` from
    ``root``'s results for ``profile`` when they cover every one of ``names``, else from the committed file."""
    from .loading import checkpoint_path

    local = rows_by_seed(read_results(root), profile)
    if set(local) >= set(names):
        return local, f"{Path(root) / RESULTS_FILE} ({profile} profile)"
    path = checkpoint_path(committed)
    rows = _read_jsonl(path)
    seeded = rows_by_seed(rows, rows[0]["profile"] if rows else profile)
    missing = set(names) - set(seeded)
    if missing:
        raise ValueError(f"{path}: no row for {', '.join(sorted(missing))}")
    return seeded, f"checkpoints/{committed} (the committed run)"


def seed_values(rows: dict[int, dict], metric: str) -> list[float]:
    """One experiment's protocol ``metric`` over its training seeds, in seed order (the input of
    :mod:`~styleinv_lib.seed_statistics`)."""
    return [rows[s]["protocol"]["metrics"][metric] for s in sorted(rows)]


#: The rows of the paper's Table 3 (the ablations, the full model last) and of Table 1 that we run (the baseline).
TABLE3 = ("no_encoder", "ape", "no_ffa_d_no_l2", "no_ffa_d", "full")
TABLE1 = ("autoregressive", "full")


def experiment_report(seeded: dict[str, dict[int, dict]], names, metrics, *, spread: dict | None = None,
                      reference: str = "full") -> dict[str, dict]:
    """Per metric, :func:`~styleinv_lib.seed_statistics.compare_rows` of the experiments ``names`` (every training
    seed of each, from :func:`rows_by_seed`) against ``reference`` and the paper's numbers; ``spread`` is a
    ``benchmarks/protocol_spread.py`` output, whose standard deviation for ``reference`` is the protocol noise
    (missing: no gap is called reproduced)."""
    from .seed_statistics import compare_rows

    check_one_recipe(seeded, names)
    if spread is not None:
        def sizes(protocol: dict) -> dict:             # what changes the numbers' scale: not the seed or the batch
            return {k: v for k, v in protocol.items() if k not in ("seed", "batch")}
        ours = {json.dumps(sizes(r["protocol"]["protocol"]), sort_keys=True) for r in seeded[reference].values()}
        if ours != {json.dumps(sizes(spread["protocol"]), sort_keys=True)}:
            raise ValueError(f"the protocol spread was measured under {sizes(spread['protocol'])}, the rows under "
                             f"{' and '.join(sorted(ours))}: measure the spread under the rows' protocol")
    out = {}
    papers = {n: _paper_of(n, seeded[n]) for n in names}
    for m in metrics:
        std = (spread or {}).get("runs", {}).get(reference, {}).get(m, {}).get("std")
        samples = {n: seed_values(seeded[n], m) for n in names}
        out[m] = compare_rows(samples, {n: papers[n][1][m] for n in names}, reference=reference, protocol_std=std)
        out[m]["paper"] = {n: {"row": papers[n][0], "value": papers[n][1][m]} for n in names}
    return out


def _paper_of(name: str, rows: dict[int, dict]) -> tuple[str, dict]:
    """The paper row an experiment's results compare with and its numbers, as the rows recorded them (on SynthSky:
    Table 1's SkyTimelapse numbers, :func:`dataset_setup`), else the experiment's own (DeeperForensics)."""
    first = rows[min(rows)]
    if first.get("paper"):
        return first.get("paper_row") or EXPERIMENTS[name].paper_row, first["paper"]
    return EXPERIMENTS[name].paper_row, EXPERIMENTS[name].paper


#: What the SynthFaces probe reads from a row, for the claims the paper makes without a number: the first frame is
#: G(w0) (the L2 loss and FFA-D, FFA-APE's fixed v0), the subject is kept (the encoder initialisation), the videos
#: move (the ratio of generated to real motion) and do not jump between identities.  Label: path in the row.
PROBE_QUANTITIES = {
    "first-frame PSNR (dB)": ("first_frame", "psnr"),
    "identity share @128": ("identity_preservation", "share@128"),
    "identity share @1024": ("identity_preservation", "share@1024"),
    "yaw std ratio": ("motion", "yaw_std", "ratio"),
    "mouth speed ratio": ("motion", "mouth_speed", "ratio"),
    "max jump ratio": ("jumps", "max_ratio"),
}


def probe_report(seeded: dict[str, dict[int, dict]], names, *, reference: str = "full") -> dict[str, dict]:
    """Per :data:`PROBE_QUANTITIES` entry, every row's value over its training seeds and each row's
    :func:`~styleinv_lib.seed_statistics.difference_verdict` against ``reference`` (rows without probe metrics, such
    as SynthSky's, are left out)."""
    from .seed_statistics import difference_verdict, summary

    check_one_recipe(seeded, names)
    out = {}
    for label, path in PROBE_QUANTITIES.items():
        values = {n: [v for v in (_value_at(seeded[n][k], path) for k in sorted(seeded[n])) if v is not None]
                  for n in names}
        values = {n: v for n, v in values.items() if v}
        if reference not in values:
            continue
        out[label] = {"rows": {n: summary(v) for n, v in values.items()}, "reference": reference,
                      "differences": {n: difference_verdict(v, values[reference])
                                      for n, v in values.items() if n != reference}}
    return out


def probe_markdown(report: dict[str, dict], names, *, alpha: float = 0.05) -> str:
    """:func:`probe_report` as a Markdown table (mean ± std over training seeds, the seeds), then every row's
    difference from the reference with its p-value and verdict (two-sided Welch test at ``alpha``).  The report
    runs many tests at once (every quantity × every row), so a difference whose p-value also clears the Bonferroni
    threshold ``alpha`` / (number of tests) is marked as holding for the whole family."""
    labels = list(report)
    tested = sum(d["p_value"] is not None for label in labels for d in report[label]["differences"].values())
    family = alpha / max(tested, 1)
    lines = ["| experiment | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    for n in names:
        cells = []
        for label in labels:
            r = report[label]["rows"].get(n)
            cells.append("—" if r is None else f"{r['mean']:.3g} ± {r['std']:.2g} ({r['n']})" if r["n"] > 1
                         else f"{r['mean']:.3g} (1)")
        lines.append(f"| `{n}` | " + " | ".join(cells) + " |")
    lines.append("")
    for label in labels:
        rep = report[label]
        untested = {n: d for n, d in rep["differences"].items() if d["p_value"] is None}
        for n, d in rep["differences"].items():
            if n not in untested:
                p = d["p_value"]
                lines.append(f"* {label} `{n}` − `{rep['reference']}`: {d['gap']:+.3g}; two-sided Welch p "
                             + ("< 0.001" if p < 0.001 else f"{p:.3f}") + f": **{d['verdict']}**"
                             + (" (holds over the family)" if d["verdict"] != "within noise" and p <= family else ""))
        if untested:
            lines.append(_untested_line(label, untested, rep["reference"], ".3g"))
    if tested > 1:
        lines.append(f"\n{tested} tests at α = {alpha:g}: about {alpha * tested:.1f} would pass by chance alone; "
                     f"\"holds over the family\" marks p ≤ {family:.2g} (Bonferroni, α / {tested}).")
    return "\n".join(lines) + "\n"


def _untested_line(label: str, untested: dict, reference: str, spec: str) -> str:
    """One line for the rows whose difference from ``reference`` cannot be tested (a row with one training seed)."""
    gaps = ", ".join(f"`{n}` {d['gap']:+{spec}}" + (f" (paper {d['paper_gap']:+.2f})" if "paper_gap" in d else "")
                     for n, d in untested.items())
    return f"* {label} − `{reference}`: {gaps}; **too few seeds** for a test (it needs two per row)"


def _value_at(row: dict, path) -> float | None:
    """The number at ``path`` (keys into nested dicts) in a results row, None where the row has none."""
    for key in path:
        row = row.get(key) if isinstance(row, dict) else None
    return None if row is None else float(row)


def report_markdown(report: dict[str, dict], names) -> str:
    """A Markdown table of :func:`experiment_report` (mean ± std over training seeds, the paper beside it), then
    each gap's verdict (the gaps that cannot be tested yet on one line) and Kendall's τ per metric (three rows or
    more)."""
    metrics = list(report)
    lines = ["| experiment | paper row | " + " | ".join(f"{m.upper()} (ours, mean ± std, seeds)" for m in metrics)
             + " | " + " | ".join(f"{m.upper()} (paper)" for m in metrics) + " |",
             "|" + "---|" * (2 + 2 * len(metrics))]
    for n in names:
        cells = [f"{r['mean']:.1f} ± {r['std']:.1f} ({r['n']})" if r["n"] > 1 else f"{r['mean']:.1f} (1)"
                 for r in (report[m]["rows"][n] for m in metrics)]
        lines.append(f"| `{n}` | {report[metrics[0]]['paper'][n]['row']} | " + " | ".join(cells) + " | "
                     + " | ".join(f"{report[m]['paper'][n]['value']:.2f}" for m in metrics) + " |")
    lines.append("")
    for m in metrics:
        rep = report[m]
        std = rep["protocol_std"]
        untested = {n: g for n, g in rep["gaps"].items() if g["p_value"] is None}
        for n, g in rep["gaps"].items():
            if n not in untested:
                lines.append(f"* {m.upper()} `{n}` − `{rep['reference']}`: {g['gap']:+.1f} "
                             f"(paper {g['paper_gap']:+.2f}); one-sided Welch p {g['p_value']:.3f}; "
                             f"2 × protocol std {'not measured' if std is None else f'{2 * std:.1f}'}: "
                             f"**{g['verdict']}**")
        if untested:
            lines.append(_untested_line(m.upper(), untested, rep["reference"], ".1f"))
        if len(rep["rows"]) < 3:           # with two rows τ is only the sign of the one gap
            continue
        t = rep["tau"]
        interval = ("no interval (a row has one seed)" if t["low"] is None
                    else f"{t['level']:.0%} bootstrap interval [{t['low']:+.2f}, {t['high']:+.2f}]")
        lines.append(f"* {m.upper()} Kendall τ (our means vs the paper, {len(rep['rows'])} rows) {t['tau']:+.2f}, "
                     f"{interval}")
    return "\n".join(lines) + "\n"


def _finished_row(root: Path, name: str, profile: str, key: str, committed=None) -> dict | None:
    """The row of ``name`` already in ``root``'s results (or in the committed results file ``committed``) for this
    profile and configuration hash, if any."""
    for row in read_results(root, committed):
        if row["experiment"] == name and row["profile"] == profile and row["config_hash"] == key:
            return row
    return None


def _append(root: Path, row: dict) -> None:
    """Add ``row`` atomically; a lock file serialises concurrent runners (two experiments on two cores)."""
    try:
        import fcntl
    except ImportError:                      # Windows: no lock, run one runner per root there
        fcntl = None
    path = root / RESULTS_FILE
    with open(root / (RESULTS_FILE + ".lock"), "w") as lock:
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        previous = path.read_text() if path.exists() else ""
        atomic_write_text(path, previous + json.dumps(row, sort_keys=True) + "\n")


def rendered_dataset(data) -> str | None:
    """The embedded dataset ``data`` was rendered as ("SynthFaces", "SynthSky"; its ``metadata.json`` says so), or
    None for any other folder of videos."""
    meta = Path(data) / "metadata.json"
    try:
        return json.loads(meta.read_text()).get("dataset")
    except (OSError, ValueError, AttributeError):
        return None


def is_synthfaces(data) -> bool:
    """Whether ``data`` is a SynthFaces render: the probe metrics read SynthFaces identities and motion factors, and
    mean nothing on other videos (a real face dataset, SynthSky)."""
    return rendered_dataset(data) == "SynthFaces"


def dataset_setup(exp: Experiment, data) -> tuple[dict, str, dict]:
    """What the dataset changes in an experiment: ``(settings, paper_row, paper)``.  On SynthSky, StyleInV takes the
    official sky configuration (:data:`SKY_SETTINGS`) and the row is compared with the paper's SkyTimelapse numbers
    of Table 1 (none for the Table 3 ablations, which the paper ran on DeeperForensics only); elsewhere the face
    configuration of the profile and the experiment's DeeperForensics numbers."""
    if rendered_dataset(data) != "SynthSky":
        return {}, exp.paper_row, exp.paper
    paper = PAPER_TABLE1["SkyTimelapse"].get(exp.name, {})
    row = {"full": "Table 1 StyleInV (SkyTimelapse)",
           "autoregressive": "Table 1 MoCoGAN-HD (SkyTimelapse)"}.get(exp.name, "")
    return (dict(SKY_SETTINGS) if exp.kind == "styleinv" else {}), row, paper


def evaluate_run(run, data, profile, *, device="cpu", seed: int = 0, kind: str = "styleinv") -> dict:
    """Protocol metrics and, on SynthFaces data, the probe metrics of a trained run (see the module docstring)."""
    from .generate import load_autoregressive_generator, load_video_generator
    from .metrics.protocol import PROTOCOL_PRESETS, evaluate

    prof = get_profile(profile)
    gen = (load_autoregressive_generator if kind == "autoregressive" else load_video_generator)(run, device=device)
    out = {"protocol": evaluate(gen.clip_source(), data, protocol_metrics(prof.name),
                                PROTOCOL_PRESETS[prof.name], device=device)}
    if not is_synthfaces(data):
        out["probe_metrics"] = "skipped: the data is not a SynthFaces render"
        return out
    out.update(probe_metrics(gen, data, prof.name, device=device, seed=seed))
    return out


#: Protocol seed ``k`` of the probe metrics draws the videos with content and motion seeds ``k * PROBE_SEED_STRIDE``,
#: ``+ 1``, ...: seed 0 draws the videos it always drew, and two protocol seeds never share a video (with seeds
#: ``k, k + 1, ...`` the "two protocol seeds" 0 and 1 shared 15 of their 16 videos and agreed for that reason).
PROBE_SEED_STRIDE = 1_000_000


def probe_videos(profile, seed: int = 0, videos: int | None = None) -> list[int]:
    """The content and motion seeds of the probe's videos: ``videos`` of them (default 16, 2 on the smoke profile)
    for protocol seed ``seed`` (see :data:`PROBE_SEED_STRIDE`)."""
    n = videos if videos is not None else {"smoke": 2}.get(get_profile(profile).name, 16)
    if not 1 <= n <= PROBE_SEED_STRIDE:
        raise ValueError(f"the probe needs 1 to {PROBE_SEED_STRIDE} videos, got {n}")
    if seed < 0:
        raise ValueError(f"protocol seeds are >= 0, got {seed}")
    return list(range(seed * PROBE_SEED_STRIDE, seed * PROBE_SEED_STRIDE + n))


def probe_metrics(gen, data, profile, *, device="cpu", seed: int = 0, videos: int | None = None) -> dict:
    """The SynthFaces probe metrics of a video generator (``generate.VideoGenerator`` or the autoregressive one):
    identity preservation over long videos, first-frame error, motion statistics against the real videos of
    ``data``, and per-video jump ratios (largest frame-to-frame change over the median one).  ``videos`` videos
    (:func:`probe_videos`: 16 by default, 2 on the smoke profile) of protocol seed ``seed``.  Identity share is
    nearly all-or-nothing per video (most keep their subject throughout, a few drift), so it also comes per video
    (``identity_per_video``) with a bootstrap interval over the videos (``identity_interval``): at 16 videos one
    drifting video moves the mean by 0.06.  With the raw inversion encoder at hand, ``reconstructed_motion``: the
    same real videos inverted frame by frame, ``G(E(x_t))``, against themselves — how much of the real motion the
    image generator and the encoder can show at all."""
    import numpy as np
    import torch

    from .data.export import synthfaces_version
    from .data.video import VideoFolder
    from .metrics.groundtruth import (compare_motion, first_frame_error, identity_preservation, jump_ratio,
                                      motion_statistics)
    from .metrics.probe import load_probe
    from .pixels import to_uint8
    from .seed_statistics import mean_interval

    prof = get_profile(profile)
    probe = load_probe(device=device, version=synthfaces_version(data))
    seeds = probe_videos(prof.name, seed, videos)
    n = len(seeds)
    w0 = gen.w0_from_seeds(seeds)
    longest = max(horizons(prof.name))
    heads, jumps = [], []                       # the first (up to 128) frames of each long video, for the rest

    def long_videos():
        for i, s in enumerate(seeds):
            video = gen.video(w0[i:i + 1], longest, motion_seeds=[s])[0]
            heads.append(video[:min(128, longest)])
            jumps.extend(jump_ratio(video[None]))
            yield video

    out = {"probe_videos": {"protocol_seed": seed, "videos": n}}
    ids = identity_preservation(long_videos(), probe, horizons=horizons(prof.name))
    out["identity_preservation"] = {k: v for k, v in ids.items() if k.startswith(("share@", "cosine@"))}
    per_video = {k.removeprefix("video_"): v for k, v in ids.items() if k.startswith("video_share@") and v}
    out["identity_per_video"] = per_video
    out["identity_interval"] = {k: mean_interval(v) for k, v in per_video.items()}
    out["jumps"] = {"frames": longest, "max_ratio": max(jumps), "median_ratio": float(np.median(jumps)),
                    "videos_over_3": int(sum(j > 3 for j in jumps)), "videos": len(jumps)}
    short = torch.stack(heads)
    g_w0 = gen.first_frame(w0)
    out["first_frame"] = first_frame_error(short[:, 0], g_w0, probe=probe)
    real = VideoFolder(data, gen.resolution, mode="frames")
    k = min(n, real.num_videos)
    frames = min(short.shape[1], min(real.num_frames(i) for i in range(k)))
    real_videos = torch.stack([real.read_frames(i, np.arange(frames)) for i in range(k)])
    real_motion = motion_statistics(real_videos, probe)
    out["motion"] = compare_motion(motion_statistics(short[:, :frames], probe), real_motion).as_dict()
    if getattr(gen, "encoder", None) is not None:
        # the real videos inverted frame by frame, G(E(x_t)): the motion the image generator and the encoder can
        # show at all.  A motion model built on them is unlikely to read more motion than this.
        recon = torch.stack([to_uint8(gen.first_frame(gen.w0_from_images(v))) for v in real_videos])
        out["reconstructed_motion"] = compare_motion(motion_statistics(recon, probe), real_motion).as_dict()
    return out


def run_folder(root, name: str, profile: str, seed: int = 0) -> Path:
    """``<root>/<name>-<profile>`` for training seed 0, ``<root>/<name>-<profile>-seed<k>`` for the others."""
    return Path(root) / (f"{name}-{profile}" if seed == 0 else f"{name}-{profile}-seed{seed}")


def run_experiment(name: str, profile=None, *, data, generator, encoder, root, device="auto", progress: bool = True,
                   seed: int = 0, committed=None, **overrides) -> dict:
    """Train (or resume) and evaluate one experiment with training seed ``seed``; append and return its row (or
    return the row already there for the same configuration and seed, in ``root``'s results or in the committed
    results file ``committed``).  Reference rows train nothing: ``seed`` does not apply to them."""
    from .train.autoregressive import train_autoregressive
    from .train.loop import TrainingInterrupted, pick_device
    from .train.styleinv import train_styleinv

    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}: choose one of {', '.join(EXPERIMENTS)} or 'all'")
    exp, prof = EXPERIMENTS[name], get_profile(profile)
    root = Path(root)
    if exp.kind in REFERENCE_KINDS:
        return _run_reference(exp, prof.name, data=data, generator=generator, root=root, committed=committed,
                              device=pick_device(device) if device == "auto" else device)
    settings, paper_row, paper = dataset_setup(exp, data)
    cfg = experiment_config(exp, prof.name, data=data, generator=generator, encoder=encoder, device=device,
                            seed=int(seed), **{**settings, **overrides})
    key = config_hash(cfg)
    if (done := _finished_row(root, name, prof.name, key, committed)) is not None:
        return done
    run = run_folder(root, name, prof.name, cfg.seed)
    _set_aside_stale_run(run, cfg)
    train = train_autoregressive if exp.kind == "autoregressive" else train_styleinv
    result = train(cfg, run, resume="auto", progress=progress)
    if result.interrupted:
        raise TrainingInterrupted(f"{name}: training stopped ({result.interrupted}); run the command again to "
                                  "resume", result.interrupted)
    train_s = result.elapsed_s                  # the run's training time over every session, not this process's
    t1 = time.perf_counter()
    metrics = evaluate_run(run, data, prof.name, device=pick_device(device) if device == "auto" else device,
                           kind=exp.kind)
    row = {"experiment": name, "kind": exp.kind, "description": exp.description, "profile": prof.name,
           "seed": cfg.seed, "config_hash": key, "recipe_hash": recipe_hash(cfg),
           "run": str(run), "kimg": result.kimg, "train_seconds": round(train_s, 1),
           "eval_seconds": round(time.perf_counter() - t1, 1), "paper_row": paper_row, "paper": paper,
           **metrics}
    root.mkdir(parents=True, exist_ok=True)
    _append(root, row)
    return row


def _reference_key(exp: Experiment, profile: str, *, data, generator) -> str:
    """A reference row's identity: what it evaluates (the data or the generator) under which protocol."""
    from .metrics.protocol import PROTOCOL_PRESETS

    return hashlib.sha256(json.dumps({"name": exp.name, "data": str(data), "generator": str(generator),
                                      "protocol": PROTOCOL_PRESETS[profile].to_dict()},
                                     sort_keys=True).encode()).hexdigest()[:16]


def _run_reference(exp: Experiment, profile: str, *, data, generator, root: Path, device, committed=None) -> dict:
    """A reference row: held-out real videos or the image generator held still, evaluated like a model."""
    import torch

    from .loading import load_generator
    from .metrics.protocol import PROTOCOL_PRESETS, HeldOutClips, StaticImageClips, evaluate

    protocol = PROTOCOL_PRESETS[profile]
    key = _reference_key(exp, profile, data=data, generator=generator)
    if (done := _finished_row(root, exp.name, profile, key, committed)) is not None:
        return done
    t0 = time.perf_counter()
    G = load_generator(generator, device=device)
    if exp.kind == "real":
        source = HeldOutClips(data, G.img_resolution, skip=protocol.num_clips)
    else:
        source = StaticImageClips(G, device=device)
    row = {"experiment": exp.name, "kind": exp.kind, "description": exp.description, "profile": profile,
           "config_hash": key, "run": "", "kimg": 0.0, "train_seconds": 0.0, "paper_row": "", "paper": {},
           "protocol": evaluate(source, data, protocol_metrics(profile), protocol, device=device)}
    if exp.kind == "real" and is_synthfaces(data):
        from .data.export import synthfaces_version
        from .metrics.groundtruth import identity_preservation
        from .metrics.probe import load_probe

        row["held_out_videos"] = source.held_out_videos
        held = range(source.skip, source.skip + min({"smoke": 2}.get(profile, 16), source.held_out_videos))
        frames = min(source.folder.num_frames(i) for i in held)
        videos = torch.stack([source.folder.read_frames(i, range(frames)) for i in held])
        ids = identity_preservation(videos, load_probe(device=device, version=synthfaces_version(data)),
                                    horizons=[h for h in horizons(profile) if h <= frames])
        row["identity_preservation"] = {k: v for k, v in ids.items() if k.startswith(("share@", "cosine@"))}
    row["eval_seconds"] = round(time.perf_counter() - t0, 1)
    root.mkdir(parents=True, exist_ok=True)
    _append(root, row)
    return row


def _trained_so_far(run: Path) -> tuple[float, float]:
    """The kimg and training seconds recorded in the newest snapshot of ``run`` (0, 0 when there is none)."""
    from .checkpoint import CheckpointError, RunDir, read_snapshot_metadata

    latest = RunDir(run).latest()
    if latest is None:
        return 0.0, 0.0
    try:
        loop = json.loads(read_snapshot_metadata(latest).get("extra_json", "{}")).get("loop", {})
    except (CheckpointError, ValueError):
        return 0.0, 0.0
    return float(loop.get("kimg", 0.0)), float(loop.get("elapsed_s", 0.0))


def experiment_status(names, seeds, profile=None, *, data, generator, encoder, root, committed=None,
                      **overrides) -> list[dict]:
    """Where a re-run stands, read from ``root`` without changing anything: one entry per (experiment, seed) that
    ``styleinv experiment NAMES --seeds SEEDS`` would produce (a reference row with seed 0 only), with its ``state``:

    * ``finished``: its row is in the results (same configuration and seed), ``root``'s or the committed file
      ``committed``;
    * ``training``: a live process holds the run folder's lock (``holder``: its pid and command);
    * ``trained``: the newest snapshot reached the training length; the evaluation is left (or running now);
    * ``interrupted``: the snapshots stop short of the training length and nobody is training it;
    * ``stale``: the folder holds a run of another configuration (``changed``), which the next run sets aside;
    * ``pending``: nothing yet.

    Each entry also has ``kind``, ``kimg`` / ``total_kimg`` and the seconds of training (a finished row's, or its
    newest snapshot's so far) and of evaluation (a finished row's)."""
    from .train.run_lock import lock_holder

    prof = get_profile(profile)
    root = Path(root)
    out = []
    for seed in seeds:
        for name in names:
            exp = EXPERIMENTS[name]
            entry = {"experiment": name, "seed": int(seed), "kind": exp.kind, "kimg": 0.0, "total_kimg": 0.0,
                     "train_seconds": 0.0, "eval_seconds": None}
            if exp.kind in REFERENCE_KINDS:
                if seed:
                    continue                                 # run (and listed) with seed 0 only, as the runner does
                done = _finished_row(root, name, prof.name, _reference_key(exp, prof.name, data=data,
                                                                           generator=generator), committed)
                entry["state"] = "pending" if done is None else "finished"
                if done is not None:
                    entry["eval_seconds"] = done.get("eval_seconds")
                out.append(entry)
                continue
            settings, _, _ = dataset_setup(exp, data)
            cfg = experiment_config(exp, prof.name, data=data, generator=generator, encoder=encoder,
                                    seed=int(seed), **{**settings, **overrides})
            entry["total_kimg"] = float(cfg.total_kimg)
            run = run_folder(root, name, prof.name, cfg.seed)
            if (done := _finished_row(root, name, prof.name, config_hash(cfg), committed)) is not None:
                entry.update(state="finished", kimg=float(done.get("kimg", cfg.total_kimg)),
                             train_seconds=float(done.get("train_seconds", 0.0)),
                             eval_seconds=done.get("eval_seconds"))
            elif changed := _stale_settings(run, cfg):
                entry.update(state="stale", changed=changed)
            else:
                kimg, elapsed = _trained_so_far(run)
                entry.update(kimg=kimg, train_seconds=elapsed)
                if (holder := lock_holder(run)) is not None:
                    entry.update(state="training", holder=holder)
                elif kimg >= cfg.total_kimg:
                    entry["state"] = "trained"
                else:
                    entry["state"] = "interrupted" if kimg > 0 else "pending"
            out.append(entry)
    return out


def time_left(status: list[dict]) -> tuple[float, int]:
    """Seconds of one process that the unfinished entries of ``status`` still need, and how many of them could not
    be estimated.  Training time per kimg and evaluation time come from the finished rows of the same kind (for
    training, else from the run's own snapshot); an entry whose kind has none of these is counted as unknown."""
    rates, evals = {}, {}
    for kind in {e["kind"] for e in status}:
        done = [e for e in status if e["kind"] == kind and e["state"] == "finished"]
        kimg = sum(e["kimg"] for e in done)
        if kimg > 0:
            rates[kind] = sum(e["train_seconds"] for e in done) / kimg
        seconds = [e["eval_seconds"] for e in done if e["eval_seconds"] is not None]
        if seconds:
            evals[kind] = sum(seconds) / len(seconds)
    total, unknown = 0.0, 0
    for e in status:
        if e["state"] == "finished":
            continue
        left = max(e["total_kimg"] - (0.0 if e["state"] == "stale" else e["kimg"]), 0.0)
        rate = rates.get(e["kind"])
        if rate is None and e["state"] != "stale" and e["kimg"] > 0:
            rate = e["train_seconds"] / e["kimg"]
        if (left > 0 and rate is None) or e["kind"] not in evals:
            unknown += 1
            continue
        total += left * (rate or 0.0) + evals[e["kind"]]
    return total, unknown


def status_markdown(status: list[dict]) -> str:
    """:func:`experiment_status` as a table, with what is left (:func:`time_left`)."""
    def minutes(seconds):
        return "" if seconds is None or seconds <= 0 else f"{seconds / 60:.0f} min"

    lines = ["| experiment | seed | state | kimg | training | evaluation |", "|---|---|---|---|---|---|"]
    for e in status:
        state = e["state"]
        if state == "training":
            state += f" (pid {e['holder'].get('pid')}{', unverified' if e['holder'].get('unverified') else ''})"
        elif state == "stale":
            state += f" (differs in {', '.join(e['changed'])})"
        kimg = f"{e['kimg']:g} / {e['total_kimg']:g}" if e["total_kimg"] else ""
        lines.append(f"| {e['experiment']} | {e['seed']} | {state} | {kimg} | {minutes(e['train_seconds'])} | "
                     f"{minutes(e['eval_seconds'])} |")
    finished = sum(e["state"] == "finished" for e in status)
    seconds, unknown = time_left(status)
    timed = len(status) - finished - unknown
    parts = [f"{finished} of {len(status)} rows finished"]
    if timed:
        parts.append(f"{timed} more need about {seconds / 3600:.1f} h of one process (parallel one-thread chains "
                     "divide it)")
    if unknown:
        parts.append(f"{unknown} cannot be timed yet (no finished row of their kind)")
    return "\n".join(lines) + "\n\n" + "; ".join(parts) + ".\n"


def add_experiment_cli(sub) -> None:
    """``styleinv experiment NAME|all|list``, wired in by :mod:`styleinv_lib.cli`."""
    from .profiles import PROFILES

    p = sub.add_parser("experiment", help="train and evaluate the full model and the paper's ablations (Table 3)",
                       description="Run named experiments (train or resume, evaluate, one JSON row each in "
                                   f"<root>/{RESULTS_FILE}); rerunning skips finished ones. 'list' shows them.")
    p.add_argument("name", help=f"one of {', '.join(EXPERIMENTS)}, several joined by commas (full,static), 'all', "
                                "'list', 'report' (Tables 3 and 1 over the training seeds of the finished rows), or "
                                "'status' (which rows of --names and --seeds are finished, training or left, and "
                                "about how long the rest takes)")
    p.add_argument("--profile", default=None, help=f"one of {', '.join(PROFILES)} (default: $STYLEINV_PROFILE)")
    p.add_argument("--data", type=Path, default=Path("data/synthfaces"), help="the video dataset (default "
                                                                             "data/synthfaces)")
    p.add_argument("--generator", type=Path, default=Path("checkpoints/stylegan2_synthfaces32_v2_cpu.safetensors"))
    p.add_argument("--encoder", type=Path, default=Path("checkpoints/encoder_synthfaces32_v2_cpu.safetensors"))
    p.add_argument("--root", type=Path, default=Path("runs/experiments"), help="run folders and results.jsonl")
    p.add_argument("--kimg", type=float, default=None, help="override the profile's training length")
    p.add_argument("--seeds", default="0", help="training seeds, joined by commas (e.g. 0,1,2); each (experiment, "
                                                "seed) is one row, and finished ones are skipped")
    p.add_argument("--device", default="auto")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--results", type=Path, default=None, help="report: read this results file (e.g. "
                                                               "checkpoints/experiments_v2_cpu.jsonl), not the root's")
    p.add_argument("--committed", type=Path, default=None,
                   help="the committed results file (e.g. checkpoints/experiments_v2_cpu.jsonl): its rows count as "
                        "finished too, so a fresh checkout continues the re-run instead of repeating it")
    p.add_argument("--names", default="all", help="status: the experiments to list, joined by commas (default all)")
    p.add_argument("--spread", type=Path, default=None, help="report: the protocol-seed spread of the full model "
                                                              "(benchmarks/protocol_spread.py's output)")
    p.set_defaults(handler=run_experiment_cli)


def run_experiment_cli(args) -> int:
    if args.name == "list":
        for e in EXPERIMENTS.values():
            print(f"{e.name:16s} {e.paper_row:26s} {e.description}")
        return 0
    if args.name == "report":
        return _report_cli(args)
    chosen = args.names if args.name == "status" else args.name
    names = list(EXPERIMENTS) if chosen == "all" else [n for n in chosen.split(",") if n]
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown or not names:
        raise ValueError(f"unknown experiment {', '.join(map(repr, unknown)) or repr(chosen)}: choose one of "
                         f"{', '.join(EXPERIMENTS)} (several joined by commas), 'all' or 'list'")
    for what in ("data", "generator", "encoder", "committed"):
        if getattr(args, what) is not None and not getattr(args, what).exists():
            raise FileNotFoundError(f"--{what} {getattr(args, what)} does not exist")
    try:
        seeds = list(dict.fromkeys(int(s) for s in args.seeds.split(",") if s.strip()))
    except ValueError:
        raise ValueError(f"--seeds {args.seeds!r}: give integers joined by commas, e.g. 0,1,2") from None
    if not seeds or min(seeds) < 0:
        raise ValueError(f"--seeds {args.seeds!r}: give non-negative integers joined by commas, e.g. 0,1,2")
    if args.name == "status":
        print(status_markdown(experiment_status(names, seeds, args.profile, data=args.data, generator=args.generator,
                                                encoder=args.encoder, root=args.root, committed=args.committed,
                                                device=args.device, total_kimg=args.kimg)))
        return 0
    for seed in seeds:
        for name in names:
            if seed and EXPERIMENTS[name].kind in REFERENCE_KINDS:
                continue                                 # a reference row trains nothing: once is enough
            row = run_experiment(name, args.profile, data=args.data, generator=args.generator,
                                 encoder=args.encoder, root=args.root, device=args.device, progress=not args.quiet,
                                 seed=seed, committed=args.committed, total_kimg=args.kimg)
            print(f"{name} (seed {seed}): " +
                  ", ".join(f"{k} {v:.1f}" for k, v in row["protocol"]["metrics"].items()))
    print(f"results in {args.root / RESULTS_FILE}")
    return 0


def _report_cli(args) -> int:
    from .profiles import get_profile

    if args.results is not None:
        path, rows = args.results, (_read_jsonl(args.results) if args.results.exists() else None)
    else:
        path = args.root / RESULTS_FILE
        rows = read_results(args.root, args.committed) if path.exists() or args.committed else None
    if rows is None:
        raise FileNotFoundError(f"{path}: no results file; run styleinv experiment all first, or pass --results")
    profile = get_profile(args.profile).name
    seeded = rows_by_seed(rows, profile)
    if not seeded:
        raise ValueError(f"{path}: no rows of the {profile} profile")
    spread = json.loads(args.spread.read_text()) if args.spread else None
    metrics = protocol_metrics(profile)
    for title, names in (("Table 3 (ablations)", TABLE3), ("Table 1 (the autoregressive baseline)", TABLE1)):
        have = [n for n in names if n in seeded]
        print(f"## {title}\n")
        if "full" not in have or len(have) < 2:
            print(f"not enough rows yet: have {', '.join(have) or 'none'} of {', '.join(names)}\n")
            continue
        print(report_markdown(experiment_report(seeded, have, metrics, spread=spread), have))
        probe = probe_report(seeded, have)
        if probe:
            print(f"### {title}: the SynthFaces probe, over training seeds\n")
            print(probe_markdown(probe, have))
    return 0


__all__ = ["EXPERIMENTS", "EXPERIMENT_SETTINGS", "Experiment", "PAPER_TABLE1", "PROBE_QUANTITIES", "REFERENCE_KINDS",
           "RESULTS_FILE", "SKY_SETTINGS", "TABLE1", "TABLE3", "add_experiment_cli", "check_one_recipe",
           "dataset_setup", "evaluate_run", "experiment_config", "experiment_report", "experiment_status",
           "is_synthfaces", "latest_rows", "probe_markdown", "probe_report", "read_results", "recipe_hash",
           "recorded_config_hash", "rendered_dataset", "report_markdown", "results_or_committed", "rows_by_seed",
           "run_experiment", "run_experiment_cli", "run_folder", "seed_values", "seeded_results_or_committed",
           "status_markdown", "time_left", "unused_penalty_settings"]
