# The two commands: `make demo` and `make test`. Each installs what is missing, builds, runs.
BUILD ?= build
JOBS ?= $(shell nproc)

.PHONY: all deps build test demo bench format clean

all: build

deps:
	@bash scripts/setup.sh
	@bash scripts/setup_npm.sh

build: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

demo: build
	@bash scripts/demo.sh $(BUILD)

bench: build
	@$(BUILD)/scheme_error_bench
	@$(BUILD)/ggml_quant_bench --threads 1
	@if [ -f ../shared/testdata/ggml/golden.gguf ]; then \
	  $(BUILD)/ggml_quant_bench --golden ../shared/testdata/ggml/golden.gguf; fi

format:
	@clang-format -i $$(git ls-files '*.cc' '*.h')

clean:
	@rm -rf $(BUILD)
