# Parallax — the two commands a new user runs on a fresh Debian 12 machine:
#
#   make demo   installs what is missing, builds, runs the main job
#   make test   installs what is missing, builds, runs every test suite
#
# Everything else here is a step of those two.

SHELL       := /bin/bash
BUILD_DIR   ?= build
ASAN_DIR    ?= build-asan
TSAN_DIR    ?= build-tsan
FUZZ_DIR    ?= build-fuzz
FUZZ_SECONDS ?= 60
BUILD_TYPE  ?= RelWithDebInfo
PREFIX      ?= /usr/local
JOBS        ?= $(shell nproc 2>/dev/null || echo 2)
PYTHON      ?= /usr/bin/python3
PARALLAX    := $(BUILD_DIR)/src/cli/parallax

# Debian 12 packages the build, the tests and the demo need. `make deps`
# installs only the ones that are missing.
DEBIAN_PACKAGES := \
	build-essential cmake ninja-build pkg-config \
	libtbb-dev libhwloc-dev nlohmann-json3-dev libcli11-dev libhwy-dev libcfitsio-dev wcslib-dev \
	ocl-icd-opencl-dev opencl-c-headers opencl-clhpp-headers pocl-opencl-icd clinfo \
	libgtest-dev libgmock-dev libbenchmark-dev abigail-tools libclblast-dev libopenblas-dev \
	python3 python3-numpy python3-pytest python3-astropy python3-reproject python3-pip python3-setuptools
DEBIAN_PACKAGES += python3-ccdproc
DEBIAN_PACKAGES += golang-go
DEBIAN_PACKAGES += $(if $(shell command -v rustc),,rustc) $(if $(shell command -v cargo),,cargo)# Rust binding: only when no toolchain (e.g. rustup's) is on PATH
DEBIAN_PACKAGES += mono-mcs mono-runtime nunit-console libnunit-framework2.6.3-cil

.PHONY: all deps build demo test test-asan test-tsan fuzz install package docs clean abi-check abi-baseline

all: build

deps:
	@./cmake/install-deps.sh $(DEBIAN_PACKAGES)

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
	      -DCMAKE_INSTALL_PREFIX=$(PREFIX)

build: $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

demo: deps build
	@PYTHON=$(PYTHON) ./tests/demo.sh $(PARALLAX)

test: deps build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

# ASan + UBSan on the unit, executor and device suites; leaks inside PoCL and
# its LLVM (kept for the process's life) are suppressed in tests/lsan.supp.
test-asan: deps
	cmake -S . -B $(ASAN_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DPLX_SANITIZE=address,undefined
	cmake --build $(ASAN_DIR) -j $(JOBS)
	cd $(ASAN_DIR) && LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	  ctest --output-on-failure --no-tests=error -j $(JOBS) -L 'unit|exec|device'

# ThreadSanitizer on the unit and executor suites (lanes on plain threads:
# see src/exec/executor.cpp); suppressions, if ever needed, in tests/tsan.supp.
test-tsan: deps
	cmake -S . -B $(TSAN_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DPLX_SANITIZE=thread
	cmake --build $(TSAN_DIR) -j $(JOBS)
	cd $(TSAN_DIR) && TSAN_OPTIONS="halt_on_error=1 suppressions=$(CURDIR)/tests/tsan.supp" \
	  ctest --output-on-failure --no-tests=error -j $(JOBS) -L 'unit|exec'


# libFuzzer on every parser of outside input, FUZZ_SECONDS each, seeded from
# tests/fuzz/corpus (replayed by make test). New inputs go to $(FUZZ_DIR)/corpus,
# crashes to $(FUZZ_DIR)/crash-*: add a crash to the seeds once it is fixed.
fuzz: deps
	@./cmake/install-deps.sh clang
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	      -DPLX_FUZZ=ON -DPLX_SANITIZE=address,undefined
	cmake --build $(FUZZ_DIR) -j $(JOBS) --target plx_fuzz_profile plx_fuzz_proc
	for t in profile proc; do \
	  mkdir -p $(FUZZ_DIR)/corpus/$$t && \
	  $(FUZZ_DIR)/tests/plx_fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	    -artifact_prefix=$(FUZZ_DIR)/ $(FUZZ_DIR)/corpus/$$t tests/fuzz/corpus/$$t || exit 1; \
	done

# The ABI against the 0.1 baseline (abi/): fails, with abidiff's report, on
# any change an old client could notice (tests/abi/abi_check.py says which
# are compatible). Also run by `make test` (ctest abi.baseline_0_1).
ABI_BASELINE := abi/libparallax-0.1.abi
abi-check: deps build
	$(PYTHON) tests/abi/abi_check.py $(ABI_BASELINE) $(BUILD_DIR)/src/libparallax.so $(CURDIR)/include include/parallax.h

# Only when a release freezes its ABI: the baseline every later build is checked against.
abi-baseline: deps build
	abidw --headers-dir $(CURDIR)/include --drop-private-types --short-locs --no-corpus-path --no-comp-dir-path \
	      --drop-undefined-syms --exported-interfaces-only $(BUILD_DIR)/src/libparallax.so > $(ABI_BASELINE)

# PREFIX at install time, not only when build/ was first configured (the
# installed files are relocatable: parallax.pc and the CMake package find
# their prefix from where they lie).
install: build
	cmake --install $(BUILD_DIR) --prefix $(PREFIX)

# The C API reference as HTML in $(BUILD_DIR)/docs/html (doxygen, when installed).
docs:
	@command -v doxygen >/dev/null || { echo "docs: doxygen is not installed (apt-get install doxygen)"; exit 1; }
	mkdir -p $(BUILD_DIR)/docs && PLX_DOCS_DIR=$(BUILD_DIR)/docs doxygen docs/Doxyfile
	@echo "docs: $(BUILD_DIR)/docs/html/index.html"

# Debian packages libparallax0, libparallax-dev and parallax-tools in $(BUILD_DIR)/packages.
package: build
	cd $(BUILD_DIR) && cpack -B packages

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(TSAN_DIR) $(FUZZ_DIR)
