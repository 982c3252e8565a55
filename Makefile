# Two commands:  `make lab` sets up and opens the course;  `make test` sets up and runs every test
# (with the browser test's Playwright and Chromium, see `browser` below).
# Setup makes a virtual environment in .venv, installs PyTorch first, then this repo (editable) with its dependencies.
PYTHON ?= python3
VENV   ?= .venv
# The PyTorch the course is tested with. `make lab TORCH=torch` lets pip choose the newest; a torch already in the
# env is kept. TORCH_INDEX picks a wheel index, e.g. https://download.pytorch.org/whl/cpu for a small CPU-only build.
TORCH  ?= torch==2.13.0
TORCH_INDEX ?=
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# JupyterLab refuses to run as root (e.g. in a Docker container) unless told to.
LAB_FLAGS ?= $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: setup browser sandbox lab test benchmark strip student grade clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --progress-bar off "$(TORCH)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install --progress-bar off -e .
	touch $@

# The end-to-end browser test (tests/test_browser.py) also needs Playwright and Chromium. Chromium comes from the
# system's packages (Debian/Ubuntu: apt, with sudo unless root); elsewhere install Chrome or Chromium yourself and set
# CHROMIUM=/path/to/it. Playwright never downloads a browser here: it drives that one.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

browser: $(VENV)/.browser-installed

$(VENV)/.browser-installed: $(STAMP)
	$(BIN)/python -m pip install --progress-bar off -e ".[browser]"
	@if [ -n "$$CHROMIUM" ] || command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null; then \
		echo "Chromium: found"; \
	elif command -v apt-get >/dev/null; then \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver; \
	else \
		echo "No Chromium and no apt-get: the browser test will be skipped. Install Chrome or Chromium and set CHROMIUM=/path/to/it to run it."; \
	fi
	touch $@

# The autograder runs each submission's kernel in a bubblewrap sandbox (docs/teaching.md). Debian/Ubuntu: apt, with
# sudo unless root; elsewhere the grader runs without one and says so in every report.
sandbox:
	@if command -v bwrap >/dev/null; then \
		echo "bubblewrap: found"; \
	elif command -v apt-get >/dev/null; then \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq bubblewrap; \
	else \
		echo "No bubblewrap and no apt-get: the autograder's sandbox tests will be skipped and grading is not isolated."; \
	fi

# The folder JupyterLab opens: the chapters, or `make lab LAB_DIR=student` for the student versions.
LAB_DIR ?= chapters

lab: setup
	$(BIN)/jupyter lab $(LAB_FLAGS) $(LAB_DIR)/

test: setup browser sandbox
	$(BIN)/python -m pytest

benchmark: setup
	$(BIN)/python scripts/benchmark.py --update-readme

strip:
	$(PYTHON) scripts/strip_notebooks.py chapters/*.ipynb

# Classroom (docs/teaching.md): `make student` rewrites student/ from the chapters;
# `make grade NB="submissions/*.ipynb" [SOURCE=chapters/01_feedforward.ipynb] [OUT=grades] [TIMEOUT=900]` grades
# submitted notebooks, each in a sandbox (reports beside each submission, or in OUT).
student: setup
	$(BIN)/python -m classroom.release

grade: setup sandbox
	@test -n "$(NB)" || (echo 'usage: make grade NB="submissions/*.ipynb" [SOURCE=chapters/NN_topic.ipynb] [OUT=grades] [TIMEOUT=900]' && exit 2)
	$(BIN)/python -m classroom.grade $(NB) $(if $(SOURCE),--source $(SOURCE)) $(if $(OUT),--out $(OUT)) $(if $(TIMEOUT),--timeout $(TIMEOUT))

clean:
	rm -rf $(VENV) runs .pytest_cache
