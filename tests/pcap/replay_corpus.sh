#!/bin/bash
# Replay every capture of a directory through hakapcap with a rule file,
# inline (--no-pass-through): each run must exit 0 (a damaged capture is
# processed as far as it is readable), print its summary, give every packet
# read exactly one verdict, and produce no sanitizer report.
set -u
hakapcap=$1 dir=$2 rules=$3
n=0 fail=0
for p in "$dir"/*.pcap "$dir"/*.pcapng; do
	[ -e "$p" ] || continue
	n=$((n + 1))
	err=$("$hakapcap" --no-pass-through "$rules" "$p" 2>&1 >/dev/null)
	rc=$?
	verdicts=$(awk '
		/^summary: packets / { sub(/,.*/, "", $3); p = $3 }
		/^summary: verdicts: / { a = $4; d = $6; sub(/,/, "", a); sub(/,/, "", d) }
		END { print (p != "" && a != "" && a + d == p) ? "ok" : "bad" }' <<<"$err")
	if [ $rc -ne 0 ] || ! grep -q '^summary: packets' <<<"$err" ||
	    [ "$verdicts" != ok ] ||
	    grep -q -E 'Sanitizer|runtime error:|error lua:' <<<"$err"; then
		echo "FAIL ($rc): $p"
		echo "$err" | tail -20
		fail=$((fail + 1))
	fi
done
echo "$((n - fail)) passed, $fail failed"
[ $n -gt 100 ] && [ $fail -eq 0 ]
