# Two commands do all the set-up: `make demo` and `make test`.
# Both create .venv/ in the repo root when it is missing; nothing is registered outside it
# (notebooks run on the venv's own ipykernel, found through sys.prefix).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv demo test test-fast lab bench bench-scale sample-data clean-notebooks clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m analysis demo

test: $(STAMP)
	$(PY) -m pytest -q

# JupyterLab on the venv's own kernel (the notebooks in notebooks/ open on it).
lab: $(STAMP)
	$(PY) -m jupyter lab --notebook-dir=notebooks

# Skips the notebook runs (real kernels) for a quick loop.
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

bench: $(STAMP)
	$(PY) benchmarks/loaders.py
	$(PY) benchmarks/stats.py
	$(PY) benchmarks/tcpd.py
	$(PY) benchmarks/accuracy.py
	$(PY) benchmarks/gate.py
	$(PY) benchmarks/gate_replay.py
	$(PY) benchmarks/monitors.py
	$(PY) benchmarks/label_rules.py

# The engine issue's targets: 10M events against ~60k, 100M in a Hive folder, Spark against DuckDB, the demos
# (makes its data once under benchmarks/_data/; the 100M folder takes about 8 minutes to write).
bench-scale: $(STAMP)
	$(PY) benchmarks/scale.py --hundred --spark --demo

sample-data: $(STAMP)
	$(PY) -m analysis generate --out sample_data

clean-notebooks: $(STAMP)
	$(PY) -m jupyter nbconvert --clear-output --inplace notebooks/*.ipynb

clean:
	rm -rf $(VENV) reports .pytest_cache
