# The two commands: `make demo` and `make test`. Each installs what is missing, builds, runs.
# `make test-asan` (clang, AddressSanitizer + UndefinedBehaviorSanitizer, the whole suite and a
# few seconds of every fuzz target) and `make fuzz` (FUZZ_SECONDS per target) share build-asan/.
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 5
# Leak detection on; every sanitizer report fails the run.
SAN_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	LSAN_OPTIONS=suppressions=$(CURDIR)/scripts/lsan.supp:print_suppressions=0

.PHONY: all deps build test demo bench format clean asan-build test-asan fuzz

all: build

deps:
	@bash scripts/setup.sh
	@bash scripts/setup_npm.sh

build: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

asan-build: deps
	@cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
	  -DLOWBIT_SANITIZE=ON -DLOWBIT_FUZZ=ON -DLOWBIT_FUZZ_SMOKE_SECONDS=$(FUZZ_SMOKE_SECONDS) >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

test-asan: asan-build
	@cd $(ASAN_BUILD) && $(SAN_ENV) ctest --output-on-failure -j $(JOBS)

fuzz: asan-build
	@$(SAN_ENV) bash scripts/fuzz.sh $(ASAN_BUILD)/fuzz $(FUZZ_SECONDS)

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
	@rm -rf $(BUILD) $(ASAN_BUILD)
