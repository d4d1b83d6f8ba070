# `make demo` and `make test` do all set-up on a fresh machine (see README).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.gvin-installed

.PHONY: setup demo test test-all bench clean

$(STAMP): pyproject.toml scripts/setup.sh
	VENV=$(VENV) bash scripts/setup.sh
	touch $@

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/gvin demo

test: $(STAMP)
	$(PY) -m pytest -q

test-all: $(STAMP)
	GVIN_SLOW=1 $(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/bench_datasets.py
	$(PY) benchmarks/bench_vi_layer.py
	$(PY) benchmarks/bench_deep_vi.py --sizes 35x8 --depths 100 1000

clean:
	rm -rf $(VENV) build *.egg-info
