#!/bin/sh
# Build with profile-guided optimisation (GCC): an instrumented hakapcap
# runs scripts/pgo-train.lua over the public SMTP captures of tests/data
# and the tutorial capture, then everything is rebuilt with that profile.
# The training captures are real SMTP sessions, none of the benchmark's.
# usage: scripts/build-pgo.sh [BUILD_DIR] [extra cmake arguments...]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-build-pgo}
[ $# -gt 0 ] && shift
cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=Release -DHAKA_PGO=generate \
	"$@" >/dev/null
find "$dir" -name '*.gcda' -delete
cmake --build "$dir" -j"$(nproc)" --target hakapcap
n=0
for f in "$root"/tests/data/public/*.pcap "$root"/tests/data/public/*.pcapng \
	"$root"/samples/smtp.pcap; do
	"$dir/hakapcap" "$root/scripts/pgo-train.lua" "$f" >/dev/null 2>&1 || {
		echo "build-pgo.sh: training run failed on $f:" >&2
		"$dir/hakapcap" "$root/scripts/pgo-train.lua" "$f" >/dev/null
		exit 1
	}
	n=$((n + 1))
done
echo "build-pgo.sh: profile recorded on $n captures"
cmake -S "$root" -B "$dir" -DHAKA_PGO=use >/dev/null
cmake --build "$dir" -j"$(nproc)"
