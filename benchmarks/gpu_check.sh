#!/usr/bin/env bash
# The library's CUDA path in one short script (10-13 minutes on one H100/H200): what the CPU-only CI never runs.
#
#   bash benchmarks/gpu_check.sh OUTDIR [NOTEBOOK]
#
# With the library importable (pip install -e ".[all]", or PYTHONPATH=.) and a CUDA GPU, it writes to OUTDIR:
#   env.txt               GPU, torch, the precision policy the library picks, the CUDA unit test
#   chain.log             every stage from the command line at the gpu preset, a few steps each: render 128²
#                         SynthFaces, train-stylegan2 (twice: straight to 0.64 kimg, and 0.32 kimg then resumed, with
#                         the two runs compared), export, train-encoder, train-styleinv, generate, style fine-tune;
#                         ADA forced to p = 1 so that every R1 step goes through the geometric augmentation
#   chapter.log (+ NN_executed.ipynb)   NOTEBOOK (default chapter 6) executed top to bottom on the GPU with the
#                         smoke profile, its assertions included
#   profile.log, profile_gpu.json       benchmarks/profile_step.py: StyleGAN2's plain, path-length and R1 steps with
#                         torch's convolutions and with nn.conv_gradfix, and the top kernels of each kind
#   bench.log, train_speed_gpu.json     benchmarks/train_speed.py at the gpu presets: fp32, bf16, bf16+compile
# Each part has its own time limit and runs alone on the GPU.
# LPIPS-VGG (style fine-tune) is switched off: its weights are 59 MB.  Without network access, point
# STYLEINV_ASSET_LPIPS_ALEXNET at alexnet.ckpt for the encoder stage.
set -u
OUT=${1:?usage: gpu_check.sh OUTDIR [NOTEBOOK]}
NB=${2:-notebooks/06_styleinv_ffa_st.ipynb}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
PY=${PYTHON:-python3}
PROFILE=${GPU_CHECK_PROFILE:-gpu}   # smoke + GPU_CHECK_RES=32: the same commands in seconds on a CPU (dry run)
RES=${GPU_CHECK_RES:-128}
PARTS=",${GPU_CHECK_PARTS:-env,chain,profile,chapter,bench},"   # a subset runs alone, e.g. GPU_CHECK_PARTS=chapter
want() { [[ $PARTS == *",$1,"* ]]; }
export PYTHONUNBUFFERED=1
si() { "$PY" -c 'import sys; from styleinv_lib.cli import main; sys.exit(main())' "$@"; }
WORK=$(mktemp -d)
T0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - T0 )) s] $*"; }

want env && {
  stamp "environment"
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
  "$PY" - <<'EOF'
import torch, styleinv_lib as sil
from styleinv_lib.train.loop import precision_policy
dev = sil.pick_device("auto")
p = precision_policy(dev)
print(f"torch {torch.__version__}, cuda {torch.version.cuda}, {torch.cuda.get_device_name(0)}, "
      f"capability {torch.cuda.get_device_capability(0)}; pick_device('auto') = {dev}; "
      f"precision auto -> {p.mode}, channels_last {p.channels_last}, grad scaler {p.use_grad_scaler}")
EOF
  stamp "CUDA unit tests"
  timeout 60 "$PY" -m pytest -q -p no:cacheprovider tests/test_train_loop.py -k "cuda or policy or resume" 2>&1 |
    tail -15
} > "$OUT/env.txt" 2>&1

chain() {
  set -x
  si data synthfaces --out "$WORK/faces" --videos 6 --frames 128 --resolution $RES --quiet
  si data styles --out "$WORK/styles" --style toon --images 64 --resolution $RES --quiet
  # ADA pushed to p = 1 at once (target -1), so that each stage's R1 step (step 16) goes through the geometric
  # augmentation: its second derivative is what torch < 2.12 lacked on CUDA
  ADA="--set ada_target=-1 --set ada_kimg=0.1"
  G="si train-stylegan2 --data $WORK/faces --profile $PROFILE --metrics none --snapshot-kimg 0.32 --quiet $ADA"
  $G --out "$WORK/G-straight" --kimg 0.64
  $G --out "$WORK/G-resumed" --kimg 0.32
  $G --out "$WORK/G-resumed" --kimg 0.64 --resume auto
  "$PY" - "$WORK" <<'EOF'
import sys, pathlib, torch
from safetensors.torch import load_file
w = pathlib.Path(sys.argv[1])
a, b = (load_file(sorted((w / d).glob("snapshot-*.safetensors"))[-1]) for d in ("G-straight", "G-resumed"))
keys = [k for k in a if k.startswith(("G/", "G_ema/", "D/")) and a[k].is_floating_point()]
diff = max((a[k].float() - b[k].float()).abs().max().item() for k in keys)
same = sum(torch.equal(a[k], b[k]) for k in keys)
print(f"resume: {same}/{len(keys)} tensors bit-identical, largest difference {diff:.3g}; "
      f"ADA p {a['augment/p'].item():.2f}")
EOF
  si export-generator "$WORK/G-straight" --out "$WORK/G.safetensors"
  si train-encoder --generator "$WORK/G.safetensors" --data "$WORK/faces" --out "$WORK/E" --profile $PROFILE \
     --kimg 0.32 --quiet
  si train-styleinv --generator "$WORK/G.safetensors" --encoder "$WORK/E" --data "$WORK/faces" --out "$WORK/SI" \
     --profile $PROFILE --kimg 0.544 --metrics none --quiet $ADA
  si generate --motion "$WORK/SI" --num-videos 2 --frames 32 --out "$WORK/gen" && ls -la "$WORK/gen"
  si finetune-style --generator "$WORK/G-straight" --images "$WORK/styles" --out "$WORK/toon" --profile $PROFILE \
     --kimg 0.544 --lambda-lpips 0 --quiet $ADA
  set +x
  stamp "chain done"; nvidia-smi --query-gpu=memory.used --format=csv
}

chapter() {
  stamp "executing $NB on $("$PY" -c 'import torch; print(torch.cuda.get_device_name(0))')"
  STYLEINV_PROFILE=smoke "$PY" - "$NB" "$OUT" <<'EOF'
import sys, time, pathlib, nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
path, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
nb = nbformat.read(path, as_version=4)
client = NotebookClient(nb, timeout=600, kernel_name="python3",
                        resources={"metadata": {"path": str(pathlib.Path("notebooks").resolve())}})
t = time.perf_counter()
try:
    client.execute()
    print(f"{path.name}: every cell ran, {time.perf_counter() - t:.0f} s")
except CellExecutionError as err:
    print(f"{path.name}: FAILED after {time.perf_counter() - t:.0f} s\n{err}")
finally:
    nbformat.write(nb, out / (path.stem[:2] + "_executed.ipynb"))
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            if o.get("name") == "stdout" and ("cuda" in o.get("text", "") or "device" in o.get("text", "")):
                print("stdout:", o["text"].strip()[:300])
EOF
}

export -f si stamp chain chapter
export PY PROFILE RES WORK T0 NB OUT
want chain && { stamp "stage chain"; timeout 240 bash -c chain > "$OUT/chain.log" 2>&1; }
want profile && { stamp "profile"; timeout 150 "$PY" benchmarks/profile_step.py --device cuda --config gpu \
  --stages stylegan2 --variants native,conv-gradfix --out "$OUT/profile_gpu.json" > "$OUT/profile.log" 2>&1; }
want chapter && { stamp "chapter"; timeout 120 bash -c chapter > "$OUT/chapter.log" 2>&1; }
stamp "timings"
B="$PY benchmarks/train_speed.py --device cuda --configs gpu --out $OUT/train_speed_gpu.json"
want bench && {
  timeout 130 $B --modes fp32,bf16
  timeout 100 $B --modes bf16+compile
  stamp "timings done"
} > "$OUT/bench.log" 2>&1
stamp "all done"
