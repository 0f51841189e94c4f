# The two commands users need: `make run` (the default grid) and `make test` (lint + tests).
# Both create the pinned environment in .venv/ on first use; nothing is installed by hand.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ARGS ?=

.PHONY: run test setup bench clean-venv tex chromium

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[test]'
	touch $@

setup: $(VENV)/.installed

run: $(VENV)/.installed
	$(PY) run_all.py $(ARGS)

# The LaTeX compile test needs pdflatex: Debian's TeX is installed when missing (as root, as CI
# runs; about 20 s), so CI runs that test instead of skipping it.
tex:
	@command -v pdflatex >/dev/null || [ "$$(id -u)" != 0 ] || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		texlive-latex-base texlive-latex-recommended >/dev/null; }
	@command -v pdflatex >/dev/null || echo "pdflatex missing (not root): the LaTeX test skips"

# The browser tests (tests/report/test_chromium.py) need Debian's chromium: installed when missing
# (as root, as CI runs), so CI runs them instead of skipping. DejaVu is the font they are sized on.
chromium:
	@[ -x /usr/bin/chromium ] || [ "$$(id -u)" != 0 ] || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		chromium fonts-dejavu-core >/dev/null; }
	@[ -x /usr/bin/chromium ] || echo "chromium missing (not root): the browser tests skip"

test: $(VENV)/.installed tex chromium
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest -q $(ARGS)

bench: $(VENV)/.installed
	$(PY) -m pytest -q tests/benchmarks --benchmark-enable -m 'slow or not slow' $(ARGS)

clean-venv:
	rm -rf $(VENV)
