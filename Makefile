# softmoe: `make demo` and `make test` are all a new user needs; both install what is missing first.
BUILD_DIR ?= build
ASAN_BUILD_DIR ?= build-asan
JOBS ?= 2
CMAKE_FLAGS ?=
ifeq ($(SOFTMOE_PORTABLE),1)
CMAKE_FLAGS += -DSOFTMOE_PORTABLE=ON
endif

# Debian packages the build needs (python3-torch is only for tests/reference/make_fixtures.py).
BUILD_PACKAGES = cmake make g++ pkg-config libxtensor-dev libxtensor-blas-dev libxsimd-dev \
  libopenblas-dev libcli11-dev libfmt-dev nlohmann-json3-dev doctest-dev zlib1g-dev
FIXTURE_PACKAGES = python3-torch python3-numpy
DATA_PACKAGES = dataset-fashion-mnist
SUDO = $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps build test test-sanitize demo fixtures data clean test-slurm figures

all: build

# Installs only what is missing; does nothing (and needs no network) when everything is present.
deps:
	@missing=$$(for p in $(BUILD_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

build: deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) > /dev/null
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure

# The same tests, built with AddressSanitizer and UBSan (CI runs this too).
test-sanitize: deps
	cmake -S . -B $(ASAN_BUILD_DIR) -DCMAKE_BUILD_TYPE=Debug -DSOFTMOE_SANITIZE=ON $(CMAKE_FLAGS) > /dev/null
	cmake --build $(ASAN_BUILD_DIR) -j $(JOBS)
	ctest --test-dir $(ASAN_BUILD_DIR) --output-on-failure

# The main job on built-in data: the representation experiment, small enough for a minute or two.
demo: build
	mkdir -p results/demo
	$(BUILD_DIR)/softmoe synthetic --experts 1,4,16 --seeds 0,1 --epochs 100 --out results/demo/synthetic.csv

# Rewrites the committed PyTorch fixtures, every tests/reference/make_*fixture*.py (not part of `make test`).
fixtures: deps
	@missing=$$(for p in $(FIXTURE_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; fi
	for script in tests/reference/make_*fixture*.py; do /usr/bin/python3 $$script tests/reference/fixtures; done

# Fashion-MNIST from Debian (installs to /usr/share/datasets/fashion-mnist).
data:
	@dpkg-query -W -f='$${Status}\n' $(DATA_PACKAGES) 2>/dev/null | grep -q '^install ok installed' || \
	  ($(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(DATA_PACKAGES))

clean:
	rm -rf $(BUILD_DIR) $(ASAN_BUILD_DIR)

# A real one-node Slurm (Debian's slurm-wlm and munge, started on localhost; needs root) runs a
# sharded sweep through experiments/slurm/submit.sh. Not part of `make test`.
SLURM_PACKAGES = slurm-wlm munge
test-slurm: build
	@missing=$$(for p in $(SLURM_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; fi
	$(SUDO) tests/slurm/test_slurm.sh $(BUILD_DIR)/softmoe

# PNG plots of the committed results (gnuplot from Debian).
figures:
	@dpkg-query -W -f='$${Status}\n' gnuplot-nox 2>/dev/null | grep -q '^install ok installed' || \
	  ($(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq gnuplot-nox)
	experiments/figures.sh

# --- Performance: `make bench` (not part of `make test`; a few minutes) ---------------------------------
# Builds bench/ (its own CMake project over the engine; the LibTorch peer is its own target there, so the
# main build never depends on LibTorch), runs softmoe's benchmarks and the PyTorch and LibTorch peers with
# explicit thread counts, writes results/bench.csv atomically and prints the softmoe/peer ratios.
BENCH_BUILD_DIR ?= build-bench
BENCH_PACKAGES = python3-torch libtorch-dev
BENCH_ARGS ?=

.PHONY: bench

bench: deps
	@missing=$$(for p in $(BENCH_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  ($(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing) || \
	    echo "could not install $$missing: the peers that need it are skipped"; \
	fi
	@libtorch=$$(dpkg-query -W -f='$${Status}\n' libtorch-dev 2>/dev/null | grep -q '^install ok installed' && echo ON || echo OFF); \
	cmake -S bench -B $(BENCH_BUILD_DIR) -DCMAKE_BUILD_TYPE=Release -DSOFTMOE_BENCH_LIBTORCH=$$libtorch $(CMAKE_FLAGS) > /dev/null
	cmake --build $(BENCH_BUILD_DIR) -j $(JOBS)
	/usr/bin/python3 bench/run_bench.py --build-dir $(BENCH_BUILD_DIR) --out results/bench.csv $(BENCH_ARGS)
