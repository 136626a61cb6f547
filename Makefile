# Thin wrapper: dependencies, build, test, demo. The real build lives in CMakeLists.txt.
JOBS ?= $(shell nproc)
PRESET ?= default
DEMO_OUT ?= kgai-demo
BUILD_DIR = $(if $(filter default,$(PRESET)),build,build-$(PRESET))
# ccache keys on paths relative to the checkout, so a clone in another folder (CI's) reuses
# what any other clone on the machine compiled.
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1

.PHONY: deps build test asan-integration fuzz-smoke demo bench clean format

deps:
	@scripts/deps.sh

build: deps
	@test -f $(BUILD_DIR)/build.ninja || cmake --preset $(PRESET)
	@cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	@ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS) --timeout 300

# The gateway and simulator end-to-end tests against a kgai built with ASan + UBSan.
asan-integration: deps
	@JOBS=$(JOBS) scripts/asan_integration.sh

# Every fuzz target (tests/fuzz) under afl-fuzz for FUZZ_SECONDS each, one after the other:
# a smoke test that the parsers survive the seeds and a few seconds of mutations (CI runs it;
# docs/reliability.md has the longer runs). Builds only the fuzz targets and their libraries.
FUZZ_SECONDS ?= 8
fuzz-smoke: deps
	@scripts/fuzz.sh build
	@scripts/fuzz.sh run $(FUZZ_SECONDS)

# The main job: the routing shoot-out of `kgai demo` (about three minutes); the report lands in
# $(DEMO_OUT)/index.html. DEMO_ARGS adds flags, e.g. DEMO_ARGS=--quick.
demo: build
	@$(BUILD_DIR)/kgai demo --out $(DEMO_OUT) $(DEMO_ARGS)

bench: build
	@cmake --build $(BUILD_DIR) --target kgai_bench -j $(JOBS)

format:
	@git ls-files '*.cpp' '*.h' | xargs clang-format -i

clean:
	@rm -rf build build-*
