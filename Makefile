# Two commands do everything on a fresh clone:  `make demo`  and  `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_TEXT ?= 我们用 takefit 给视频配音, exactly on time.
DEMO_FIT ?= 4s

.PHONY: setup assets demo test bench clean

setup: $(VENV)/.installed assets

$(VENV)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev,panel,enroll]"
	touch $@

assets: $(VENV)/.installed
	$(BIN)/takefit assets fetch

demo: setup
	mkdir -p out
	$(BIN)/takefit say "$(DEMO_TEXT)" --fit $(DEMO_FIT) -o out/demo.wav
	$(BIN)/takefit dub docs/demo/scene.srt --cast docs/demo/takefit.cast.toml -o out/scene_dub.srt

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python -m pip install -q -e ".[eval]"
	$(BIN)/python bench/exactness.py
	$(BIN)/python bench/speed.py
	$(BIN)/python bench/fit_quality.py

clean:
	rm -rf $(VENV) out checkpoints/kokoro
