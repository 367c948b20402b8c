# Makefile - the two commands README.md opens with, and their parts.
#   make run    install missing build dependencies, build, run `ephport status`
#   make check  the same set-up, then the whole test suite: the normal build,
#               an ASan+UBSan build, a TSan build of the threaded tests, and a
#               short libFuzzer run of every fuzz target (where clang has it);
#               it ends with every skipped case of the three test runs and its
#               reason (scripts/report-skips.py), and with CI=true as root a
#               skipped integration test fails it.
#   make install  build a release and install it: PREFIX (default /usr/local),
#               DESTDIR (staging root, e.g. for a package); libraries,
#               headers, pkg-config files, the binary, the preload shim and
#               the man pages.
# Everything real lives in meson.build; this file only sequences it.

BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 10
MAIN_JOB   ?= status
PREFIX     ?= /usr/local
DESTDIR    ?=
INSTALL_BUILD ?= build-install

.PHONY: run check deps deps-check build install test asan tsan fuzz skips bench clean

run: deps build
	./$(BUILD)/src/cli/ephport $(MAIN_JOB)

deps:
	@scripts/install-deps.sh build

deps-check:
	@scripts/install-deps.sh check

$(BUILD)/build.ninja:
	meson setup $(BUILD) -Dtests=false

build: $(BUILD)/build.ninja
	ninja -C $(BUILD)

# A release build of its own (no tests), configured for PREFIX; DESTDIR is
# where the tree lands (empty: PREFIX itself, then ldconfig when root).
install: deps
	@if test -f $(INSTALL_BUILD)/build.ninja; then \
	    meson configure $(INSTALL_BUILD) --prefix=$(PREFIX); \
	else \
	    meson setup $(INSTALL_BUILD) --prefix=$(PREFIX) -Dbuildtype=release -Dtests=false; \
	fi
	ninja -C $(INSTALL_BUILD)
	meson install -C $(INSTALL_BUILD) --no-rebuild $(if $(DESTDIR),--destdir "$(DESTDIR)")
	@if test -z "$(DESTDIR)" && test "$$(id -u)" = 0 && command -v ldconfig >/dev/null; then ldconfig; fi

check: deps-check test asan tsan fuzz skips
	@echo "make check: all suites passed"

# What the three test runs skipped, with reasons (from each build's
# meson-logs/testlog.json); fails with CI=true as root if an integration
# test skipped anything.
skips:
	@scripts/report-skips.py $(BUILD)-test $(ASAN_BUILD) $(TSAN_BUILD)

test:
	@test -f $(BUILD)-test/build.ninja || meson setup $(BUILD)-test -Dtests=true
	ninja -C $(BUILD)-test
	meson test -C $(BUILD)-test --print-errorlogs --num-processes 2

asan:
	@test -f $(ASAN_BUILD)/build.ninja || meson setup $(ASAN_BUILD) -Dtests=true \
	    -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
	ninja -C $(ASAN_BUILD)
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
	    EP_KDIFF_SEEDS=12 EP_KDIFF_MIN_VERDICTS=5000 \
	    meson test -C $(ASAN_BUILD) --print-errorlogs --num-processes 2 --no-suite bench \
	    --no-suite install --no-suite abi

tsan:
	@test -f $(TSAN_BUILD)/build.ninja || CC=clang meson setup $(TSAN_BUILD) -Dtests=true \
	    -Db_sanitize=thread -Db_lundef=false -Dbuildtype=debugoptimized
	ninja -C $(TSAN_BUILD)
	TSAN_OPTIONS=halt_on_error=1 meson test -C $(TSAN_BUILD) --print-errorlogs --suite stress

fuzz:
	@if scripts/have-libfuzzer.sh; then \
	    test -f $(FUZZ_BUILD)/build.ninja || CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true \
	        -Dtests=false -Db_lundef=false -Dbuildtype=debugoptimized; \
	    ninja -C $(FUZZ_BUILD) && scripts/run-fuzzers.sh $(FUZZ_BUILD) $(FUZZ_SECONDS); \
	else echo "fuzz: clang's libFuzzer runtime is not installed; skipping the fuzz run"; fi

# The benchmark build: -O3 and link-time optimisation (the engine's calls
# between its files inline across them, ~20% fewer instructions per
# connect+close; docs/BENCHMARKS.md).
bench:
	@test -f build-release/build.ninja || meson setup build-release -Dbuildtype=release \
	    -Db_lto=true -Dtests=false
	ninja -C build-release
	./build-release/bench/ephport-bench

clean:
	rm -rf $(BUILD) $(BUILD)-test $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD) build-release $(INSTALL_BUILD)
