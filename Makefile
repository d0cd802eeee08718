# The two commands a newcomer needs: `make run` and `make test`. Everything they need is
# installed by scripts/deps.sh first (idempotent).

GUST_LISTEN ?= 127.0.0.1:8080
GUST_DATA ?= .gust
JOBS ?= $(shell nproc)

.PHONY: run test deps build release asan unit e2e security adapters bench soak fuzz lint clean

deps:
	@bash scripts/deps.sh

release: deps
	@cmake --preset release >/dev/null
	@cmake --build build/release -j $(JOBS)

asan: deps
	@cmake --preset asan-ubsan >/dev/null
	@cmake --build build/asan-ubsan -j $(JOBS)

build: release

# Builds a release gust, starts it with the examples deployed, and prints the URLs and token.
run: release
	@bash scripts/run.sh build/release/src/gust $(GUST_LISTEN) $(GUST_DATA)

unit: asan
	@ctest --test-dir build/asan-ubsan --output-on-failure -j $(JOBS)

adapters: deps
	@.venv/bin/pytest -q runtimes/python
	@node --test runtimes/node/

e2e: asan
	@GUST_BIN=$(CURDIR)/build/asan-ubsan/src/gust .venv/bin/pytest -q tests/e2e

# The escape and abuse suite: real hostile functions against a sandboxed and a control server.
security: asan
	@GUST_BIN=$(CURDIR)/build/asan-ubsan/src/gust .venv/bin/pytest -q tests/security

# Installs, builds with ASan/UBSan, runs every suite.
test: unit adapters e2e security

bench: release
	@bash bench/run.sh
	@bash bench/warm.sh
	@bash bench/gateway.sh
	@bash bench/kafka.sh
	@build/release/bench/route_bench
	@python3 bench/coldstart.py build/release/src/gust

# A bounded soak at 80 % of the measured peak, 10 minutes unless SOAK_SECONDS says otherwise
# (bench/soak.sh): too long for `make bench`.
soak: release
	@bash bench/soak.sh

# Coverage-guided fuzzing with clang's libFuzzer, FUZZ_SECONDS per target (the seed corpora
# also replay in `make test` under any compiler).
FUZZ_SECONDS ?= 60
fuzz:
	@bash scripts/deps.sh --fuzz
	@cmake --preset fuzz >/dev/null
	@cmake --build build/fuzz -j $(JOBS) --target frame_fuzz handler_result_fuzz manifest_fuzz bundle_fuzz gateway_request_fuzz event_input_fuzz http_head_fuzz json_input_fuzz
	@for target in frame handler_result manifest bundle gateway_request event_input http_head json_input; do \
	  mkdir -p build/fuzz/corpus/$$target; \
	  build/fuzz/fuzz/$${target}_fuzz -max_total_time=$(FUZZ_SECONDS) build/fuzz/corpus/$$target fuzz/corpus/$$target || exit 1; \
	done

# clang-format check and clang-tidy (Debian's 16) over the project's C++.
lint:
	@bash scripts/deps.sh --lint
	@cmake --preset dev >/dev/null
	@git ls-files 'src/*.cc' 'src/*.h' 'fuzz/*.cc' 'bench/*.cc' | xargs clang-format-16 --dry-run --Werror
	@git ls-files 'src/*.cc' | xargs clang-tidy-16 -p build/dev --quiet

clean:
	rm -rf build
