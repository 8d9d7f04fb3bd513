# Two entry points: `make run` (the main job) and `make test`. Each creates
# the virtual environment in .venv when it is missing. `make run` installs
# what the main job needs (torch and snnbench's own requirements); `make test`
# adds every extra the tests use (trackers, Ray, the report's renderer and
# browser driver, the test tools), which is several GB more. One extra on
# demand: make extra-mlflow (or -tensorboard, -wandb, -ray, -report, -docs).

VENV    ?= .venv
PYTHON  ?= python3
BIN     := $(VENV)/bin
# Data: ../shared/data when it holds MNIST (this project's machines), else ./data.
SNNBENCH_DATA ?= $(if $(wildcard ../shared/data/MNIST/raw),$(abspath ../shared/data),$(abspath data))
export SNNBENCH_DATA

.PHONY: gpu-check run test docs smoke baseline-smoke leaderboard bench bench-neurons bench-models bench-rstdp clean

# the main job's environment (this file is its stamp)
$(BIN)/snnbench: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, pinned to the builds this project is tested with
	$(BIN)/python -m pip install -q "torch==2.14.1" "torchvision==0.29.1"
	$(BIN)/python -m pip install -q -e .
	touch $@

# the tests' environment on top of it
TEST_INSTALLED := $(VENV)/.test-installed
$(TEST_INSTALLED): $(BIN)/snnbench pyproject.toml
	# report: snnbench report's Vega bundle and renderer, and the browser test's driver;
	# mlflow, tensorboard, wandb: the trackers snnbench run --report logs to, whose tests read them back;
	# ray: --executor ray, whose tests start a local Ray cluster; docs: tests/test_docs.py builds the site;
	# nir: snnbench export --nir and its round trip, which also loads the graph into Norse when it installs;
	# energy: NVML, which the measured-energy test reads on a GPU
	$(BIN)/python -m pip install -q -e ".[test,report,mlflow,tensorboard,wandb,ray,docs,nir,energy]"
	$(BIN)/python -m pip install -q "norse==1.1.0" || echo "norse did not install: the NIR round trip leaves it out"
	# NeuroBench is only for the test that checks our metrics agree with it; its
	# declared torchaudio/numba requirements are not needed for that, hence --no-deps.
	$(BIN)/python -m pip install -q --no-deps "neurobench==2.3.0"
	touch $@

# one extra, on demand: make extra-mlflow
$(VENV)/.extra-%: $(BIN)/snnbench pyproject.toml
	$(BIN)/python -m pip install -q -e ".[$*]"
	touch $@

extra-%: $(VENV)/.extra-% ;

## run: compare the spike encoders on MNIST and print the leaderboard:
## suites/encoders.toml on a GPU, its CPU-sized twin encoders-cpu.toml without
## one (FULL=1 runs the GPU-sized suite anyway).
run: $(BIN)/snnbench
	@suite=encoders; \
	if [ -z "$(FULL)" ] && ! $(BIN)/python -c 'import sys, torch; sys.exit(not torch.cuda.is_available())'; then \
	  suite=encoders-cpu; echo "no GPU here: running suites/encoders-cpu.toml, sized for a CPU (FULL=1 for encoders.toml)"; fi; \
	$(BIN)/snnbench run $$suite && $(BIN)/snnbench leaderboard --suite $$suite --by encoder

## test: the whole test suite (GPU tests skip without CUDA)
test: $(TEST_INSTALLED)
	$(BIN)/pytest -q

## docs: the documentation site in docs/_build/html, from docs/ (warnings are errors)
docs: $(VENV)/.extra-docs
	$(BIN)/python -m sphinx -W --keep-going -b html docs docs/_build/html
	@echo "open docs/_build/html/index.html"

## smoke: every encoder and both LIF backends on the bundled digits, in under a minute
smoke: $(BIN)/snnbench
	$(BIN)/snnbench run smoke
	$(BIN)/snnbench leaderboard --suite smoke

## baseline-smoke: regenerate snnbench/baselines/smoke.json (the baseline that ships, snnbench
## check --baseline smoke; leaderboard/baseline-smoke-cpu.json links to it) from ten seeds of the
## smoke suite under each of torch's CPU kernel sets (AVX2, AVX-512, default), pooled, so
## the committed gate holds on machines with any of them (see README: Gating CI)
BASELINE_ISAS ?= avx2 avx512 default
baseline-smoke: $(BIN)/snnbench
	for isa in $(BASELINE_ISAS); do \
	  ATEN_CPU_CAPABILITY=$$isa $(BIN)/snnbench run smoke --seeds 0-9 --rerun --no-progress \
	    --db leaderboard/baseline-smoke-$$isa.db || exit 1; done
	$(BIN)/snnbench check --write --baseline snnbench/baselines/smoke.json --alpha 0.01 \
	  --tolerance accuracy=abs:0.03 --tolerance sparsity=abs:0.03 --tolerance encoder_density=abs:0.01 \
	  $(foreach isa,$(BASELINE_ISAS),--db leaderboard/baseline-smoke-$(isa).db)

## bench: the harness next to bare PyTorch on the same model: training throughput, the measuring
## pass (accuracy and activity counts) against a bare forward pass, and (on Linux) the snnbench
## command's allocator setting against glibc's default
bench: $(BIN)/snnbench
	$(BIN)/python benchmarks/harness_overhead.py
	$(BIN)/python benchmarks/eval_overhead.py
	$(BIN)/python benchmarks/host_memory.py --suite encoders-cpu --only direct

## bench-neurons: forward+backward time of every registered neuron model (pytest-benchmark),
## and the README table relative to snnTorch Leaky with the bandwidth floor
bench-neurons: $(VENV)/.extra-test
	mkdir -p .benchmarks
	$(BIN)/pytest -q benchmarks/test_neuron_speed.py --benchmark-enable \
	  --benchmark-json=.benchmarks/neurons.json
	$(BIN)/python benchmarks/neuron_table.py .benchmarks/neurons.json

## bench-models: CSNN training samples/s side by side in one process: snnTorch's per-step loop,
## SpikingJelly multi-step, Norse (installed here from the package index), snnbench cells
bench-models: $(BIN)/snnbench
	$(BIN)/python -m pip install -q "norse==1.1.0" || echo "norse did not install: its row is left out"
	$(BIN)/python -W ignore benchmarks/model_speed.py

## bench-rstdp: the R-STDP network's STDP and propagation stages with its hidden layers run by
## events (the CPU path) and densely (the GPU path), side by side on real MNIST, one thread
bench-rstdp: $(BIN)/snnbench
	$(BIN)/python benchmarks/rstdp_layers.py --images 600 --threads 1

## gpu-check: on a CUDA machine, the GPU tests, the neuron benchmark at DESIGN's size, the harness
## overhead and a reduced encoders suite, summarised in gpu-check/summary.{json,md} (the CUDA steps
## say they are skipped on a CPU). On the lent GPU machine: make gpu-check GPU_CHECK_PYTHON=python3
GPU_CHECK_PYTHON ?= $(BIN)/python
gpu-check:
	$(GPU_CHECK_PYTHON) benchmarks/gpu_check.py --out gpu-check

clean:
	rm -rf $(VENV) .pytest_cache .benchmarks
