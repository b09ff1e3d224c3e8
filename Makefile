# bpekit task runner. `make demo` and `make test` are the two commands in the README.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
PYTHON ?= python3
CBINDGEN_VERSION := 0.29.2
VENV := .venv
TEST_VENV := build/venv-test
export BPEKIT_DATA ?= $(abspath ..)/shared/data

.PHONY: demo corpora fuzz fuzz-libfuzzer test-fuzz test test-rust test-c test-cpp test-go test-node test-python test-sdist \
        test-scenarios check-packaging check-header check-cffi check-symbols header tools lib wheel sdist clean

## demo: build the library, install it into .venv, train on the stdlib's sources, encode, decode
demo: $(VENV)/.installed
	$(VENV)/bin/python -m bpekit

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip

$(VENV)/.installed: $(VENV)/bin/python $(shell find core/src python/bpekit -name '*.rs' -o -name '*.py') include/bpekit.h include/bpekit_host.h setup.py pyproject.toml
	$(VENV)/bin/pip install -q .
	touch $@

## test: everything CI runs: Rust, header/cffi/symbol checks, C (valgrind, sanitizers), C++, Go, Node, Python on the
## installed wheel
test: tools test-rust test-aarch64 test-fuzz check-header check-cffi check-symbols test-c test-cpp test-go test-node test-python \
      test-sdist test-scenarios check-packaging
	@echo "make test: all suites passed"

tools:
	@if [ "$$(cbindgen --version 2>/dev/null)" != "cbindgen $(CBINDGEN_VERSION)" ]; then \
	  echo "installing cbindgen $(CBINDGEN_VERSION)"; \
	  cargo install cbindgen --version $(CBINDGEN_VERSION) --locked --quiet; fi

## lib: the library in target/release, with a symlink named by its SONAME (what programs
## linked against it look for at run time)
lib:
	cargo build --release --locked
	@bash ci/link_soname.sh target/release

## corpora: the first 4 MB of each shared text sample, decompressed, for the Rust corpus tests
corpora:
	@rm -rf build/corpora && mkdir -p build/corpora
	@$(PYTHON) -c 'import lzma, os, sys; d = os.environ["BPEKIT_DATA"]; \
	  names = [n for n in ("english", "code", "multilingual") if os.path.exists(f"{d}/{n}.txt.xz")]; \
	  [open(f"build/corpora/{n}.txt", "wb").write((lambda r: r[: r.rfind(b"\n") + 1])(lzma.open(f"{d}/{n}.txt.xz").read(4 << 20))) for n in names]; \
	  print("corpora:", names or f"none (no samples in {d}; corpus tests will skip)")'

test-rust: corpora
	@if ls build/corpora/*.txt >/dev/null 2>&1; then \
	  echo "cargo test (with the corpus tests)"; \
	  BPEKIT_CORPORA=$(abspath build/corpora) cargo test --release --locked -- --include-ignored; \
	else \
	  echo "cargo test (corpus tests ignored: no shared samples in $$BPEKIT_DATA)"; \
	  cargo test --release --locked; fi

## test-aarch64: the core's tests of its aarch64 code (NEON and the prefetch hint, core/src/simd.rs) and of what
## runs over it (the splitter, the patterns, the merge routes), built for aarch64 and run under qemu's user-mode
## emulation (needs a cross linker and qemu-user: Debian's gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and
## qemu-user). Built without LTO: faster to build, the same code.
AARCH64 := aarch64-unknown-linux-gnu
AARCH64_ENV := CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
  CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu" \
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_TARGET_DIR=target/aarch64
test-aarch64:
	@command -v aarch64-linux-gnu-gcc >/dev/null && command -v qemu-aarch64 >/dev/null || \
	  { echo "test-aarch64: needs aarch64-linux-gnu-gcc and qemu-aarch64 (see the Makefile)" >&2; exit 1; }
	rustup target add $(AARCH64)
	$(AARCH64_ENV) cargo test --release --locked --target $(AARCH64) -p bpekit --lib -- simd:: split:: pattern:: encode::merge encode::pretoken

## fuzz: every fuzz target of the core for FUZZ_SECONDS seconds each (fuzz/README.md);
## a failing input is saved under fuzz/artifacts/ and the run fails
FUZZ_SECONDS ?= 120
fuzz:
	cargo build --release --locked --manifest-path fuzz/Cargo.toml --bin bpekit-fuzz
	fuzz/target/release/bpekit-fuzz --seconds $(FUZZ_SECONDS)

## fuzz-libfuzzer: one target (FUZZ_TARGET) under libFuzzer, coverage-guided, stable Rust
FUZZ_TARGET ?= encode
LIBFUZZER_FLAGS := -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
  -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
  -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing
HOST_TRIPLE = $(shell rustc -vV | sed -n 's/^host: //p')
# The shared adversarial inputs that seed each target (as the stable driver reads them).
SEEDS_tiktoken_ranks := tests/adversarial/ranks
SEEDS_tokenizer_file := tests/adversarial/tokenizer
SEEDS_count_table := tests/adversarial/counts
SEEDS_decode := tests/adversarial/ids
fuzz-libfuzzer:
	cd fuzz && RUSTFLAGS="$(LIBFUZZER_FLAGS)" CARGO_TARGET_DIR=target/libfuzzer \
	  cargo build --release --locked --features libfuzzer --bin bpekit-libfuzzer --target $(HOST_TRIPLE)
	mkdir -p fuzz/work/$(FUZZ_TARGET) fuzz/corpus/$(FUZZ_TARGET) fuzz/artifacts
	BPEKIT_FUZZ_TARGET=$(FUZZ_TARGET) fuzz/target/libfuzzer/$(HOST_TRIPLE)/release/bpekit-libfuzzer \
	  fuzz/work/$(FUZZ_TARGET) fuzz/corpus/$(FUZZ_TARGET) $(SEEDS_$(FUZZ_TARGET)) -max_len=4096 -timeout=2 \
	  -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=fuzz/artifacts/$(FUZZ_TARGET)-

## test-fuzz: the short fuzz run of `make test` (seeds, then a few seconds per target)
test-fuzz:
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=6

## header: regenerate both committed headers: include/bpekit.h (the ABI, all of core/src/capi
## but capi/host) and include/bpekit_host.h (capi/host alone, outside the ABI promise)
header: tools
	cd core && cbindgen --config cbindgen.toml --crate bpekit --output ../include/bpekit.h
	cd core && cbindgen --quiet --config cbindgen_host.toml --output ../include/bpekit_host.h src/capi/host/mod.rs

check-header: tools
	bash ci/check_header.sh

check-cffi: $(VENV)/bin/python
	$(VENV)/bin/pip install -q 'cffi>=1.17'
	$(VENV)/bin/python ci/check_cffi_header.py

check-symbols: lib
	bash ci/check_symbols.sh target/release/libbpekit.so

test-c: lib
	bash ci/run_c_tests.sh

## test-cpp: C++ wrapper tests (GoogleTest) and CMake/pkg-config consumers of the installed tree
test-cpp: lib
	bash ci/check_install.sh

## test-go: the Go host (bindings/go) against target/release: gofmt, vet, tests under the race detector
GO_ENV := CGO_CFLAGS="-I$(CURDIR)/include" CGO_LDFLAGS="-L$(CURDIR)/target/release -Wl,-rpath,$(CURDIR)/target/release"
test-go: lib
	@command -v go >/dev/null || { echo "test-go needs Go (https://go.dev/dl/)" >&2; exit 1; }
	@unformatted="$$(gofmt -l bindings/go)"; [ -z "$$unformatted" ] || { echo "gofmt: $$unformatted" >&2; exit 1; }
	cd bindings/go && $(GO_ENV) go vet ./... && $(GO_ENV) go test -race -count=1 ./...

## test-node: the Node host (bindings/node) against target/release: koffi from the lock file, node --test, the
## package's file list
test-node: lib
	@command -v npm >/dev/null || { echo "test-node needs Node.js and npm (https://nodejs.org)" >&2; exit 1; }
	cd bindings/node && npm ci --no-audit --no-fund --loglevel=error
	cd bindings/node && BPEKIT_LIB="$(CURDIR)/target/release/libbpekit.so" node --expose-gc --test test/
	cd bindings/node && npm pack --dry-run --json | $(PYTHON) -c 'import json, sys; \
	  files = sorted(f["path"] for f in json.load(sys.stdin)[0]["files"]); print("npm pack:", files); \
	  assert files == ["README.md", "index.d.ts", "index.js", "package.json"], files'

## test-scenarios: tests/scenarios/cases.txt through the Python, C, C++, Go and Node drivers: the same output
## from every host, and a changed case caught
SCENARIO_BUILD := build/scenarios
test-scenarios: lib $(VENV)/.installed
	@mkdir -p $(SCENARIO_BUILD)
	cc -std=c11 -O1 -Wall -Wextra -Werror -Iinclude tests/scenarios/driver.c -Ltarget/release -lbpekit \
	  -Wl,-rpath,$(CURDIR)/target/release -o $(SCENARIO_BUILD)/driver_c
	c++ -std=c++17 -O1 -Wall -Wextra -Werror -Iinclude -Ibindings/cpp/include tests/scenarios/driver.cpp \
	  -Ltarget/release -lbpekit -Wl,-rpath,$(CURDIR)/target/release -o $(SCENARIO_BUILD)/driver_cpp
	cd tests/scenarios/go && $(GO_ENV) go build -o $(CURDIR)/$(SCENARIO_BUILD)/driver_go .
	cd bindings/node && [ -d node_modules/koffi ] || npm ci --no-audit --no-fund --loglevel=error
	BPEKIT_LIB="$(CURDIR)/target/release/libbpekit.so" $(PYTHON) tests/scenarios/compare.py tests/scenarios/cases.txt \
	  python="$(VENV)/bin/python tests/scenarios/driver.py" c=$(SCENARIO_BUILD)/driver_c \
	  cpp=$(SCENARIO_BUILD)/driver_cpp go=$(SCENARIO_BUILD)/driver_go node="node tests/scenarios/driver.js"

## check-packaging: the release workflow's local checks (ci/check_packaging.py): cibuildwheel's build identifiers
CIBUILDWHEEL_VERSION := 4.3.5
PACK_VENV := build/venv-pack
check-packaging:
	@[ -x $(PACK_VENV)/bin/cibuildwheel ] || { $(PYTHON) -m venv $(PACK_VENV) && \
	  $(PACK_VENV)/bin/pip install -q cibuildwheel==$(CIBUILDWHEEL_VERSION) pyyaml; }
	$(PACK_VENV)/bin/python ci/check_packaging.py $(PACK_VENV)/bin/cibuildwheel

wheel:
	rm -rf dist && $(PYTHON) -m pip wheel -q --no-deps -w dist .

sdist: $(VENV)/bin/python
	$(VENV)/bin/pip install -q build
	$(VENV)/bin/python -m build --sdist -o dist .

## test-python: build the wheel, check its tag, install it into a fresh venv, run pytest there
test-python: wheel
	rm -rf $(TEST_VENV) && $(PYTHON) -m venv $(TEST_VENV)
	$(TEST_VENV)/bin/pip install -q --upgrade pip
	$(TEST_VENV)/bin/pip install -q dist/*.whl pytest hypothesis tiktoken rustbpe regex numpy pyarrow zstandard auditwheel "dask[distributed]" psutil tokenizers transformers quicktok-v1
	PYTHON=$(TEST_VENV)/bin/python bash ci/check_wheel.sh dist/*.whl
	$(TEST_VENV)/bin/python -m pytest tests/python
	@echo "== again on the cffi route alone (as on PyPy): BPEKIT_PYTHON_BUILTIN=0"
	BPEKIT_PYTHON_BUILTIN=0 $(TEST_VENV)/bin/python -m pytest -q tests/python/test_encoding.py tests/python/test_skeleton.py
	cd build && ../$(TEST_VENV)/bin/python -m pytest -q -p no:cacheprovider --doctest-modules --pyargs bpekit

## fuzz-python: the Python API's stateful fuzzer against tiktoken (tests/python/test_fuzz.py)
## for PY_FUZZ_SECONDS per encoding (default FUZZ_SECONDS, else 300), and the policy-cache
## thread stress (test_keepalive.py) as long, on the wheel in a fresh venv. The normal
## suite runs both briefly.
.PHONY: fuzz-python
PY_FUZZ_SECONDS ?= $(or $(FUZZ_SECONDS),300)
fuzz-python: wheel
	rm -rf $(TEST_VENV) && $(PYTHON) -m venv $(TEST_VENV)
	$(TEST_VENV)/bin/pip install -q --upgrade pip
	$(TEST_VENV)/bin/pip install -q dist/*.whl pytest hypothesis tiktoken numpy
	BPEKIT_FUZZ_SECONDS=$(PY_FUZZ_SECONDS) BPEKIT_STRESS_SECONDS=$(PY_FUZZ_SECONDS) \
	  $(TEST_VENV)/bin/python -m pytest -q -s tests/python/test_fuzz.py tests/python/test_keepalive.py

## test-sdist: the source distribution builds and installs into a fresh venv, and works
test-sdist: $(VENV)/bin/python
	rm -rf build/sdist build/venv-sdist && $(VENV)/bin/pip install -q build
	$(VENV)/bin/python -m build -q --sdist -o build/sdist . >/dev/null
	$(PYTHON) -m venv build/venv-sdist
	CARGO_TARGET_DIR=$(abspath target) build/venv-sdist/bin/pip install -q build/sdist/*.tar.gz
	cd build && venv-sdist/bin/python -c "import bpekit; e = bpekit.train(['sdist works'] * 3, 260); assert e.decode(e.encode('sdist')) == 'sdist'; print('sdist ok:', bpekit.__file__)"

clean:
	rm -rf target build dist $(VENV) tests/c/build python/bpekit/_native python/bpekit/_ffi.py
