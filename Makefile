# StyleInV, the book — the two commands of the README, and the steps they are made of.
#   make all PROFILE=cpu   the main job: venv + install, render the embedded datasets, train the pipeline stages
#                          (StyleGAN2, inversion encoder, StyleInV, style transfer), build the book into _build/html
#   make test              every test: install, pytest on tests/ and on every notebook (nbval, smoke profile),
#                          including a full book build with warnings as errors and every page opened in headless
#                          Chromium (screenshots in .cache/artifacts/screenshots), and chapter 7's live slider in
#                          JupyterLab
PYTHON  ?= $(shell command -v python3.11 || command -v python3)
VENV    ?= .venv
PROFILE ?= cpu
# The CPU wheel of torch (seconds to install here); set TORCH_SPEC= to keep a torch you already have.
TORCH_SPEC ?= torch==2.13.0
BIN      = $(VENV)/bin
STAMP    = $(VENV)/.installed

.PHONY: all test install browser mathjax data stylegan2 encoder styleinv style experiments experiments-status book book-outputs clean

all: install data stylegan2 encoder styleinv style book
	@echo "done: data in ./data, book in _build/html/index.html (profile $(PROFILE))"

# The suite runs on TEST_WORKERS pytest-xdist processes, one file at a time each (conftest.py: the groups and each
# worker's share of the cores); TEST_WORKERS=0 runs it in this process.
TEST_WORKERS ?= 2
test: install browser mathjax
	STYLEINV_PROFILE=smoke STYLEINV_REQUIRE_BOOK=1 STYLEINV_REQUIRE_BROWSER=1 \
		$(BIN)/python -m pytest --nbval-lax -p no:cacheprovider --durations=30 -n $(TEST_WORKERS) --dist loadfile \
		tests notebooks

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	if [ -n "$(TORCH_SPEC)" ]; then $(BIN)/python -m pip install -q "$(TORCH_SPEC)"; fi
	$(BIN)/python -m pip install -q -e ".[all]"
	$(BIN)/styleinv assets install
	touch $@

# Debian's headless Chromium for the browser test (Playwright, from the test extra, drives it; it downloads no
# browser).  Needs apt and root (or sudo); elsewhere install any Chromium and set STYLEINV_CHROMIUM=/path/to/it.
SUDO = $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromium >/dev/null || [ -n "$$STYLEINV_CHROMIUM" ] || \
		$(SUDO) apt-get install -y -q chromium >/dev/null || \
		{ $(SUDO) apt-get update -q >/dev/null && $(SUDO) apt-get install -y -q chromium >/dev/null; }

data: install
	$(BIN)/styleinv data all --profile $(PROFILE) --root data

# Stage 1: StyleGAN2 on the SynthFaces frames (resumes a run left in runs/; PROFILE=cpu trains 250 kimg at lr 0.005,
# batch 8: about 57 min of the loop on 2 cores with AVX-512 BF16 in bf16 + torch.compile, 74 img/s measured, plus
# about 2 min for each of its five FID evaluations, the first longer (it scores the real frames); the lowest-FID
# snapshot is kept as runs/stylegan2-$(PROFILE)/best-fid.safetensors)
stylegan2: data
	$(BIN)/styleinv train-stylegan2 --data data/synthfaces --out runs/stylegan2-$(PROFILE) --profile $(PROFILE) \
		--resume auto

# Stage 2: the inversion encoder of Eq. 1, trained against the committed StyleGAN2 checkpoint (resumes a run left in
# runs/; PROFILE=cpu: 45 kimg, 12 min on one thread of a 2-core CPU with AVX-512 BF16 beside another training run);
# GENERATOR=runs/stylegan2-$(PROFILE)/best-fid.safetensors uses the generator trained above instead
GENERATOR ?= checkpoints/stylegan2_synthfaces32_v2_cpu.safetensors
encoder: data
	$(BIN)/styleinv train-encoder --generator $(GENERATOR) --data data/synthfaces --out runs/encoder-$(PROFILE) \
		--profile $(PROFILE) --resume auto

# Stage 3: StyleInV with FFA-ST (Eq. 2-6) against the committed generator and encoder (resumes a run left in runs/;
# PROFILE=cpu: 48 kimg, D also shown real clips held still, leaps penalised in the latents and, from 36 kimg, in
# the frames (none of it in the paper), FFA-APE periods from 4 frames (chapter 6, §6.5); 42 min measured on two
# threads of an AMD EPYC (Zen 4, AVX-512 BF16) in bf16 + compile, nothing else running);
# ENCODER=runs/encoder-$(PROFILE) uses the encoder trained above instead
ENCODER ?= checkpoints/encoder_synthfaces32_v2_cpu.safetensors
styleinv: data
	$(BIN)/styleinv train-styleinv --generator $(GENERATOR) --encoder $(ENCODER) --data data/synthfaces \
		--out runs/styleinv-$(PROFILE) --profile $(PROFILE) --resume auto

# Stage 4: style transfer (§3.5): the generator fine-tuned on each art style with the mapping and the blocks up to
# 8² frozen, plus chapter 8's three toon ablations: nothing frozen, frozen up to 16², LPIPS weight 30 (resumes runs
# left in runs/; PROFILE=cpu: 20 kimg, 13-18 min each on one thread of a 2-core CPU with AVX-512 BF16 beside another
# run, in bf16 + compile, about 100 min in fp32 on one AVX2 core); `styleinv export-generator
# runs/style-toon-cpu --out toon.safetensors` writes a small file, benchmarks/export_style_checkpoints.py all of them
STYLES ?= toon sketch popart
# chapter 8's three toon ablations train half as long as the styles and are compared with the toon run's snapshot
# at that length (benchmarks/export_style_checkpoints.py)
ABLATION_KIMG_smoke = 0.008
ABLATION_KIMG_cpu = 10
ABLATION_KIMG_gpu = 100
ABLATION_KIMG ?= $(ABLATION_KIMG_$(PROFILE))
style: data
	for s in $(STYLES); do \
		$(BIN)/styleinv finetune-style --generator $(GENERATOR) --images data/styles/$$s --out runs/style-$$s-$(PROFILE) \
			--profile $(PROFILE) --resume auto || exit 1; \
	done
	$(BIN)/styleinv finetune-style --generator $(GENERATOR) --images data/styles/toon \
		--out runs/style-toon-unfrozen-$(PROFILE) --profile $(PROFILE) --freeze-res 0 --train-mapping \
		--kimg $(ABLATION_KIMG) --resume auto
	$(BIN)/styleinv finetune-style --generator $(GENERATOR) --images data/styles/toon \
		--out runs/style-toon-freeze16-$(PROFILE) --profile $(PROFILE) --freeze-res 16 \
		--kimg $(ABLATION_KIMG) --resume auto
	$(BIN)/styleinv finetune-style --generator $(GENERATOR) --images data/styles/toon \
		--out runs/style-toon-lpips30-$(PROFILE) --profile $(PROFILE) --lambda-lpips 30 \
		--kimg $(ABLATION_KIMG) --resume auto

# Chapter 9's experiments (not part of `all`: many hours with PROFILE=cpu), the whole re-run in one command: the
# full model, the Table 3 ablations and the autoregressive baseline on SynthFaces, and Table 1's sky rows on SynthSky
# (the official sky configuration), each trained with every seed of SEEDS and evaluated; one row per (experiment,
# seed) in runs/experiments*/results.jsonl.  Finished rows are skipped, so an interrupted run continues; two
# one-thread chains may share a results file (e.g. `make experiments SEEDS=0,1` beside `SEEDS=2`).  The full model
# of training seed 0 is re-evaluated with protocol seeds 1-3 (`benchmarks/protocol_spread.py`, skipping measured
# seeds) for the protocol spread of each dataset.  It ends with the report: Tables 3 and 1 as mean ± std over the
# seeds, each gap judged against the training and protocol spreads.  `make experiments-status` says where the
# re-run stands and about how long the rest takes.  Commit what has finished with
# `python benchmarks/export_experiments.py --tag v2 --partial` (and `--root runs/experiments-sky --tag sky_v2 ...`).
# The committed rows (COMMITTED, SKY_COMMITTED) count as finished, so a fresh checkout, whose runs/ is empty,
# continues the re-run where the committed files stand; so does the protocol spread, from the committed network of
# the full model when its run folder is not here.
# The committed rows were trained on the 900-kimg generator and the encoder trained against it (their own copies,
# `_g900_`): the book's chapters 1-8 may move to a newer generator without changing what these rows mean.
SEEDS ?= 0,1,2
EXPERIMENT_GENERATOR ?= checkpoints/stylegan2_synthfaces32_v2_g900_cpu.safetensors
EXPERIMENT_ENCODER ?= checkpoints/encoder_synthfaces32_v2_g900_cpu.safetensors
COMMITTED ?= checkpoints/experiments_v2_$(PROFILE).jsonl
SKY_COMMITTED ?= checkpoints/experiments_sky_v2_$(PROFILE).jsonl
FULL_NETWORK ?= checkpoints/experiment_full_v2_$(PROFILE).safetensors
KNOWN = $(if $(wildcard $(COMMITTED)),--committed $(COMMITTED))
SKY_KNOWN = $(if $(wildcard $(SKY_COMMITTED)),--committed $(SKY_COMMITTED))
SKY_GENERATOR ?= checkpoints/stylegan2_synthsky32_cpu.safetensors
SPREAD ?= checkpoints/protocol_spread_v2_$(PROFILE).json
SKY_SPREAD ?= checkpoints/protocol_spread_sky_v2_$(PROFILE).json
SKY_FULL_NETWORK ?= checkpoints/experiment_full_sky_v2_$(PROFILE).safetensors
SKY_ENCODER ?= checkpoints/encoder_synthsky32_cpu.safetensors
experiments: data
	$(BIN)/styleinv experiment all --profile $(PROFILE) --data data/synthfaces --generator $(EXPERIMENT_GENERATOR) \
		--encoder $(EXPERIMENT_ENCODER) --root runs/experiments --seeds $(SEEDS) $(KNOWN)
	$(BIN)/python benchmarks/protocol_spread.py --root runs/experiments --profile $(PROFILE) --names full \
		--seeds 1,2,3 --out $(SPREAD) $(KNOWN) \
		$(if $(wildcard runs/experiments/full-$(PROFILE)),,--model full=$(FULL_NETWORK))
	$(BIN)/styleinv experiment full,autoregressive,real_heldout,static --profile $(PROFILE) --data data/synthsky \
		--generator $(SKY_GENERATOR) --encoder $(SKY_ENCODER) --root runs/experiments-sky --seeds $(SEEDS) \
		$(SKY_KNOWN)
	$(BIN)/python benchmarks/protocol_spread.py --root runs/experiments-sky --data data/synthsky --profile $(PROFILE) \
		--names full --seeds 1,2,3 --out $(SKY_SPREAD) $(SKY_KNOWN) \
		$(if $(wildcard runs/experiments-sky/full-$(PROFILE)),,--model full=$(SKY_FULL_NETWORK))
	$(BIN)/styleinv experiment report --profile $(PROFILE) --root runs/experiments --spread $(SPREAD) $(KNOWN)
	$(BIN)/styleinv experiment report --profile $(PROFILE) --root runs/experiments-sky --spread $(SKY_SPREAD) \
		$(SKY_KNOWN)

experiments-status:
	$(BIN)/styleinv experiment status --profile $(PROFILE) --data data/synthfaces --generator $(EXPERIMENT_GENERATOR) \
		--encoder $(EXPERIMENT_ENCODER) --root runs/experiments --seeds $(SEEDS) $(KNOWN)
	$(BIN)/styleinv experiment status --profile $(PROFILE) --data data/synthsky --generator $(SKY_GENERATOR) \
		--encoder $(SKY_ENCODER) --root runs/experiments-sky --seeds $(SEEDS) \
		--names full,autoregressive,real_heldout,static $(SKY_KNOWN)

# MathJax 3 for an offline book (the npm registry's package, unpacked; without npm the book loads it from a CDN)
MATHJAX = .cache/book-static/mathjax/tex-mml-chtml.js
mathjax: $(MATHJAX)
$(MATHJAX):
	@command -v npm >/dev/null || { echo "npm not found: the book's maths will load MathJax from its CDN"; exit 0; }; \
	rm -rf .cache/book-static/mathjax && mkdir -p .cache/book-static/mathjax && cd .cache/book-static && \
	npm pack -q mathjax@3.2.2 >/dev/null && tar xzf mathjax-3.2.2.tgz && cd package/es5 && \
	cp -r --parents tex-mml-chtml.js output/chtml input/tex/extensions ui/menu.js a11y ../../mathjax/ && \
	cd ../.. && rm -rf package mathjax-3.2.2.tgz

book: install mathjax
	$(BIN)/jupyter-book build . -W -n --keep-going
	$(BIN)/python tests/test_book.py _build/html

# Re-execute every chapter in place with PROFILE (the stored outputs the book shows), one after another, with
# progress; CHAPTERS=07,08 limits it.  Needs the committed checkpoints (and data/ for some chapters).
book-outputs: data
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-2} STYLEINV_PROFILE=$(PROFILE) $(BIN)/python notebooks/_execute.py $(CHAPTERS)

clean:
	rm -rf _build
