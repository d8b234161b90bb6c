# Two commands do everything: `make reproduce` (the Fashion-MNIST quick profile, then the ImageNet CPU profile, end
# to end) and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.cnr-installed
PROFILES ?= quick imagenet
export GIT_PYTHON_REFRESH := quiet
export PYTHONHASHSEED := 0

.PHONY: setup data reproduce study conclusive legacy test lab clean-results

setup: $(STAMP) data

# Idempotent: re-runs only when a pin file changes.
$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml cnr/kernel.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) -m cnr.kernel
	touch $(STAMP)

# Fashion-MNIST and the natural-photo corpus (cnr.photo_corpus, data/README.md): Debian packages where apt
# and root are there; otherwise say how Fashion-MNIST will be found and what lacks the photo corpus.
PHOTO_PKGS := mate-backgrounds plasma-workspace-wallpapers lomiri-wallpapers-16.04

data:
	@if [ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] || [ -f data/fashion-mnist/t10k-images-idx3-ubyte.gz ]; then \
		echo "Fashion-MNIST: found"; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || \
		(apt-get update -q >/dev/null 2>&1 && apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1) || \
		echo "Fashion-MNIST: apt install failed; cnr will try data/fashion-mnist/, then torchvision's download"; \
	else \
		echo "Fashion-MNIST: not installed (no root/apt). cnr looks in /usr/share/datasets/fashion-mnist/, then data/fashion-mnist/, then downloads with torchvision"; \
	fi
	@if [ "$$(dpkg-query -W -f='$${db:Status-Abbrev}\n' $(PHOTO_PKGS) 2>/dev/null | grep -c '^ii')" = $(words $(PHOTO_PKGS)) ]; then \
		echo "photo corpus: found"; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		export DEBIAN_FRONTEND=noninteractive; \
		if apt-get install -y -q --no-install-recommends $(PHOTO_PKGS) >/dev/null 2>&1 || \
			(apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends $(PHOTO_PKGS) >/dev/null 2>&1); then \
			echo "photo corpus: installed $(PHOTO_PKGS)"; \
		else \
			echo "photo corpus: apt-get install $(PHOTO_PKGS) failed; cnr.photo_corpus will raise DataNotFoundError and its pixel tests skip"; \
		fi; \
	else \
		echo "photo corpus: $(PHOTO_PKGS) not installed (needs root and apt; run: sudo apt-get install --no-install-recommends $(PHOTO_PKGS)). Until then cnr.photo_corpus (natural-photo training and evaluation crops) raises DataNotFoundError with that command and its pixel tests skip"; \
	fi

# One profile after the other (`make reproduce PROFILES=smoke`: the whole chain in miniature); the
# imagenet profile is the paper's code path on this CPU (EfficientNet-Lite0, ImageNet photos, 224 px).
# --fresh: every row is computed again and compared with the committed table (an interrupted run resumes).
reproduce: setup
	@for p in $(PROFILES); do $(PY) -m cnr reproduce --fresh --profile $$p || exit 1; done

# Dynamic vs static with the paper-preset bank and the quick bank, the same cells on the same images:
# notebooks/05_dynamic_vs_static runs (resumes) both grids and the mechanism measurements.
study: setup
	$(PY) -m cnr reproduce --profile study

# The paper's settings for C&W, DeepFool, Nattack, Square and HopSkipJump on Fashion-MNIST, resumable cell by cell:
# the conclusive rows of tables 5 and 6 that the quick and imagenet profiles' weak rows point to.
conclusive: setup
	$(PY) -m cnr reproduce --profile conclusive

# The paper's own black-box protocol (notebook 06_paper_protocol): the Fashion-MNIST quick and paper banks, then the
# ImageNet CPU track; every grid resumes cell by cell, so an interrupted run continues where it stopped.
legacy: setup
	$(PY) -m cnr reproduce --profile legacy

test: setup
	$(PY) -m pytest

# JupyterLab on copies of notebooks/ in results/interactive/notebooks/ (ignored by git; cnr/lab.py says why), so
# autosave never dirties the committed notebooks; a session's outputs go to results/interactive/<run>/.
# Jupyter refuses to run as root without --allow-root (containers, CI images): pass it only there.
lab: setup
	$(PY) -m cnr.lab $(LAB_ARGS) $$([ "$$(id -u)" = 0 ] && echo --allow-root)
