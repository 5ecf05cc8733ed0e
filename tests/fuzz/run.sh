#!/bin/sh
# run.sh FUZZER SECONDS WORKDIR SEEDS: run one libFuzzer target for SECONDS
# from its seed corpus (ctest, label fuzz). Its log (a line per new input,
# thousands of lines) goes to WORKDIR/log, and the inputs it finds to
# WORKDIR/corpus. On success the last line of the log is printed; on a
# failure, the end of the log (the crash report) and the input that
# failed, in hex, so that a CI log shows what to reproduce.
set -u
fuzzer=$1 seconds=$2 work=$3 seeds=$4

mkdir -p "$work/corpus"
rm -f "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
	-artifact_prefix="$work/" "$work/corpus" "$seeds" >"$work/log" 2>&1
rc=$?
if [ "$rc" -eq 0 ]; then
	tail -n 1 "$work/log"
	exit 0
fi
echo "$fuzzer exited with $rc ($(grep -m 1 '^INFO: Seed:' "$work/log"));" \
	"the end of $work/log:"
tail -n 60 "$work/log"
for f in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
	[ -f "$f" ] || continue
	echo "input $f ($(wc -c <"$f") bytes), reproduce with: $fuzzer $f"
	od -A x -t x1z -v "$f" | head -n 64
done
exit 1
