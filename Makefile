# Two commands do everything on a fresh clone:  `make demo`  and  `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_TEXT ?= 我们用 takefit 给视频配音, exactly on time.
DEMO_FIT ?= 4s

.PHONY: setup assets demo test test-fast bench eval clean

setup: $(VENV)/.installed assets

$(VENV)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev,panel,enroll,eval,export,cluster,indextts-runtime]"
	# upstream IndexTTS2's code for the indextts backend's tests, without its text normaliser's 0.8 GB
	# (nemo + pynini; the backend reads text as written without it): pyproject.toml's `indextts` extra
	$(BIN)/python -m pip install -q --no-deps indextts2-inference==2.1.1
	$(BIN)/python -m takefit.installer.torchaudio_cpu
	touch $@

assets: $(VENV)/.installed
	$(BIN)/takefit assets fetch

demo: setup
	mkdir -p out
	$(BIN)/takefit say "$(DEMO_TEXT)" --fit $(DEMO_FIT) -o out/demo.wav
	$(BIN)/takefit dub docs/demo/scene.srt --cast docs/demo/takefit.cast.toml -o out/scene_dub.srt

# Two pytest-xdist workers, each taking whole files (a module's fixtures, such as an enrolled voice or a
# started daemon, are then set up once): ≈ 5 min on 2 idle Zen 5 cores (AVX-512 VNNI), ≈ 15.5 min on 2 AVX2 ones. A single
# file or test runs as usual: `.venv/bin/python -m pytest tests/test_cli.py`.
XDIST := -n 2 --dist loadfile --no-loadscope-reorder

test: setup
	$(BIN)/python -m pytest -q $(XDIST) --durations=25

# The fast lane, for checking as you go (≤ 3 min on 2 cores): everything but the tests marked slow
# (long real-model runs, daemon kills and restarts, load tests). CI runs `make test`: all of it.
test-fast: setup
	$(BIN)/python -m pytest -q $(XDIST) -m "not slow"

bench: setup
	$(BIN)/python -m pip install -q -e ".[eval]"
	$(BIN)/python bench/exactness.py
	$(BIN)/python bench/speed.py
	$(BIN)/python bench/fit_quality.py

# The quality evaluation (docs/eval/README.md): takefit's fitting vs ffmpeg atempo and Rubber Band.
# torch first, pinned (any other spec pulls CUDA); the Rubber Band CLI from Debian when we can.
eval: setup
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[eval]"
	command -v rubberband >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		{ apt-get install -y -qq rubberband-cli || { apt-get update -qq && apt-get install -y -qq rubberband-cli; }; }; } || \
		echo "rubberband-cli not installed: the rubberband column falls back to pedalboard's Rubber Band (R3)"
	$(BIN)/takefit-eval

clean:
	rm -rf $(VENV) out checkpoints/kokoro
