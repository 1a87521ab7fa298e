# Two commands on a fresh clone: `make demo` and `make test`. Both create or refresh .venv/
# when requirements.txt or setup.py change, and are quick when everything is in place.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test lint bench venv clean-venv

# the planner's C search is compiled by the editable install below
$(STAMP): requirements.txt setup.py setup.cfg package.xml scripts/install_system_deps.sh \
		scenemem_ros/planning/_astar.c
	bash scripts/install_system_deps.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	$(PY) -c "import torch, open3d, rclpy, rosbags"
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	test -x $(VENV)/bin/scenemem
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/scenemem demo

test: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check scenemem_ros test benchmarks
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) benchmarks/world.py

clean-venv:
	rm -rf $(VENV)
