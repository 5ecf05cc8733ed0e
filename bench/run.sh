#!/usr/bin/env bash
# bench/run.sh: offline throughput benchmark of hakapcap against the libpcap
# floor, on two generated SMTP captures.  See bench/README.md.
#
# usage: bench/run.sh [BUILD_DIR]      (default ./build)
#
# Needs BUILD_DIR/bench/{gen_smtp_pcap,pcap_floor,runstat}; BUILD_DIR/hakapcap
# is optional (without it only the floor is measured).  RUNS=N overrides the
# number of runs per measurement (default 3, the best CPU time is kept).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD_ARG=${1:-./build}
if [[ ! -d $BUILD_ARG ]]; then
	echo "run.sh: build directory '$BUILD_ARG' not found" >&2
	exit 1
fi
BUILD_DIR=$(cd "$BUILD_ARG" && pwd)
OUT_DIR=$BENCH_DIR/out
RUNS=${RUNS:-3}

GEN=$BUILD_DIR/bench/gen_smtp_pcap
FLOOR=$BUILD_DIR/bench/pcap_floor
RUNSTAT=$BUILD_DIR/bench/runstat
HAKAPCAP=$BUILD_DIR/hakapcap
RULES=$BENCH_DIR/rules/tcp_level.lua

# Targets, checked on the 20,000-connection capture only.
TARGET_CAPTURE=smtp-short-20k
TARGET_RATIO=3
TARGET_RSS_MB=64

# name:profile:connections
CAPTURES=(smtp-short-20k:short:20000 smtp-attach-10k:attach:10000)

for tool in "$GEN" "$FLOOR" "$RUNSTAT"; do
	if [[ ! -x $tool ]]; then
		echo "run.sh: $tool missing; build it with:" >&2
		echo "  cmake --build $BUILD_DIR --target gen_smtp_pcap pcap_floor runstat" >&2
		exit 1
	fi
done
have_hakapcap=0
if [[ -x $HAKAPCAP ]]; then
	have_hakapcap=1
fi
mkdir -p "$OUT_DIR"

PROG=run.sh
# shellcheck source=lib.sh
source "$BENCH_DIR/lib.sh"


for c in "${CAPTURES[@]}"; do
	IFS=: read -r name profile conns <<<"$c"
	generate "$name" "$profile" "$conns"
done

echo
echo "== haka-ng offline benchmark ($(date -u '+%Y-%m-%d %H:%M UTC'))"
echo "host: $(uname -srm), $(nproc) CPU(s), $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "build: $BUILD_DIR; rules: bench/rules/tcp_level.lua; best of $RUNS runs (CPU = user + sys)"
if ((!have_hakapcap)); then
	echo "hakapcap: MISSING ($HAKAPCAP not found): floor figures only"
fi

declare -A rows
raw=()
for c in "${CAPTURES[@]}"; do
	IFS=: read -r name profile conns <<<"$c"
	pcap=$OUT_DIR/$name.pcap

	measure floor "$FLOOR" "$pcap"
	floor_line=$best_line
	floor_cpu=$(field cpu "$floor_line")
	packets=$(field packets "$(cat "$last_out")")
	bytes=$(stat -c %s "$pcap")
	raw+=("$name floor:    $floor_line")

	if ((have_hakapcap)); then
		measure hakapcap "$HAKAPCAP" "$RULES" "$pcap"
		hk_cpu=$(field cpu "$best_line")
		hk_rss_kb=$max_rss_kb
		raw+=("$name hakapcap: $best_line (max rss over runs ${hk_rss_kb} kB)")
		summary=$(grep -v '^runstat:' "$last_err" | tail -n 15 || true)
		if [[ -n $summary ]]; then
			raw+=("$name hakapcap stderr (last run, last lines):")
			while IFS= read -r l; do
				raw+=("    $l")
			done <<<"$summary"
		fi
	else
		hk_cpu=- hk_rss_kb=-
	fi
	rows[$name]=$(awk -v name="$name" -v p="$packets" -v b="$bytes" \
	    -v f="$floor_cpu" -v h="$hk_cpu" -v r="$hk_rss_kb" 'BEGIN {
		if (h == "-") {
			printf "%-16s %9d %8.1f %9.3f %10s %7s %7s %11s %8s\n",
			    name, p, b / 1e6, f, "-", "-", "-", "-", "-"
			exit
		}
		hc = h > 0 ? h : 0.001
		fc = f > 0 ? f : 0.001
		printf "%-16s %9d %8.1f %9.3f %10.3f %7.2f %7.3f %11.0f %8.1f\n",
		    name, p, b / 1e6, f, h, h / fc, b * 8 / hc / 1e9, p / hc,
		    r / 1024
	}')
	if [[ $name == "$TARGET_CAPTURE" ]]; then
		t_floor=$floor_cpu t_hk=$hk_cpu t_rss=$hk_rss_kb
	fi
done

echo
printf "%-16s %9s %8s %9s %10s %7s %7s %11s %8s\n" capture packets MB \
    floor_cpu hakapcap_cpu ratio Gbit/s pkts/cpu_s rss_MB
for c in "${CAPTURES[@]}"; do
	echo "${rows[${c%%:*}]}"
done
echo "(MB and Gbit/s count capture file bytes (frames + 16-byte pcap record"
echo " headers); CPU = user + sys seconds, best run; ratio = hakapcap CPU / floor"
echo " CPU; Gbit/s = bytes * 8 / hakapcap CPU; rss = hakapcap peak RSS in MiB, max"
echo " over runs)"

echo
echo "targets ($TARGET_CAPTURE):"
if ((have_hakapcap)); then
	awk -v f="$t_floor" -v h="$t_hk" -v r="$t_rss" -v tr="$TARGET_RATIO" \
	    -v tm="$TARGET_RSS_MB" 'BEGIN {
		ratio = h / (f > 0 ? f : 0.001)
		printf "  ratio to floor <= %d: %s (%.2f)\n", tr,
		    ratio <= tr ? "PASS" : "FAIL", ratio
		printf "  peak RSS <= %d MB: %s (%.1f MB)\n", tm,
		    r / 1024 <= tm ? "PASS" : "FAIL", r / 1024
	}'
else
	echo "  not checked: hakapcap is missing"
fi

echo
echo "raw runstat lines (best run):"
for l in "${raw[@]}"; do
	echo "  $l"
done
for c in "${CAPTURES[@]}"; do
	name=${c%%:*}
	echo "  $name: $(grep -E '^(connections|suspicious_sender_mails|packets|file_bytes|max_open_connections|duration_s)=' \
	    "$OUT_DIR/$name.pcap.txt" | tr '\n' ' ')"
done
