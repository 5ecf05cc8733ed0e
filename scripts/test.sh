#!/bin/sh
# Install, build and run the whole test suite twice: a -Werror build and an
# ASan+UBSan build (README, second command; CI runs this through .ci/run).
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/lint.sh
./scripts/build.sh build -DHAKA_WERROR=ON
(cd build && ctest --output-on-failure -j2)
./scripts/build.sh build-asan -DHAKA_WERROR=ON -DHAKA_SANITIZE=ON
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	ctest --output-on-failure -j2)
