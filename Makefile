# Thin wrapper: dependencies, build, test, demo. The real build lives in CMakeLists.txt.
JOBS ?= $(shell nproc)
PRESET ?= default
BUILD_DIR = $(if $(filter default,$(PRESET)),build,build-$(PRESET))

.PHONY: deps build test demo bench clean format

deps:
	@scripts/deps.sh

build: deps
	@test -f $(BUILD_DIR)/build.ninja || cmake --preset $(PRESET)
	@cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	@ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS) --timeout 300

demo: build
	@scripts/demo.sh

bench: build
	@cmake --build $(BUILD_DIR) --target kgai_bench -j $(JOBS)

format:
	@git ls-files '*.cpp' '*.h' | xargs clang-format -i

clean:
	@rm -rf build build-*
