#!/bin/sh
# Install every Debian 12 package the build, the tests and the benchmarks
# need. Run as root on a fresh machine.
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
	build-essential cmake pkg-config git ca-certificates \
	liblua5.3-dev lua5.3 libpcap-dev libnetfilter-queue-dev \
	libpcre2-dev libyaml-dev \
	clang llvm libclang-rt-dev clang-format \
	tcpdump python3 >/dev/null
echo "install-deps: done"
