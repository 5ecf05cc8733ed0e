#!/bin/sh
# The main job: install, build, and run the tutorial's spam filter on the
# tutorial capture (README, first command).
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh build
./build/hakapcap rules/spam_filter.lua samples/smtp.pcap
