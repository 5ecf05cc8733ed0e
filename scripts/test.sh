#!/bin/sh
# Install, build and run the whole test suite: a -Werror build, an
# ASan+UBSan build, a profile-guided build, then the libFuzzer targets for
# a short while (README, second command; CI runs this through .ci/run).
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh --e2e
./scripts/lint.sh
./scripts/build.sh build -DHAKA_WERROR=ON
(cd build && ctest --output-on-failure -j2)
./scripts/build.sh build-asan -DHAKA_WERROR=ON -DHAKA_SANITIZE=ON
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	ctest --output-on-failure -j2)
# The profile-guided build (scripts/build-pgo.sh, what the benchmark
# measures) passes the same tests, but for the end-to-end ones (they ran
# above, and need the daemon of one build only).
./scripts/build-pgo.sh build-pgo -DHAKA_WERROR=ON
(cd build-pgo && ctest --output-on-failure -j2 -LE e2e)
# Fuzzers: clang, every object instrumented; each target runs 30 s.
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DHAKA_FUZZ=ON \
	-DHAKA_FUZZ_SECONDS="${HAKA_FUZZ_SECONDS:-30}" >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target fuzzers
(cd build-fuzz && ctest -L fuzz --output-on-failure)
