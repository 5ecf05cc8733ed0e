#!/bin/bash
# Run one capture test (CONVENTIONS.md section 10, after the original's
# TestPcapRun.cmake): hakapcap replays INPUT through RULES inline
# (--no-pass-through) writing the forwarded packets; the output is
# filtered as the original's CompareOutput.awk does and compared with the
# expected text; the forwarded capture is compared packet by packet.
# HAKA_REGEN=1 rewrites the expected files instead. HAKA_TEST_SUMMARY, if
# set, is a regular expression one of the "summary:" lines must match.
#
# usage: run_test.sh HAKAPCAP PCAPCMP NAME RULES INPUT REF_TXT REF_PCAP [hakapcap options...]
# REF_TXT or REF_PCAP may be "-" (not compared).
set -u
hakapcap=$1 pcapcmp=$2 name=$3 rules=$4 input=$5 ref_txt=$6 ref_pcap=$7
shift 7
out=${HAKA_TEST_OUT:-${TMPDIR:-/tmp}}/haka-pcap-test-$name
mkdir -p "$out"
export TZ=Europe/Paris LANG=C LC_ALL=C

TZ=Europe/Paris "$hakapcap" --no-pass-through "$@" \
	-o "$out/out.pcap" "$rules" $input >"$out/raw.txt" 2>"$out/stderr.txt"
rc=$?
if [ $rc -ne 0 ]; then
	echo "FAIL: hakapcap exited with $rc"
	cat "$out/stderr.txt"
	exit 1
fi
if grep -q -E 'ERROR: (Address|Undefined|Leak)Sanitizer|runtime error:' "$out/stderr.txt"; then
	echo "FAIL: sanitizer report"
	cat "$out/stderr.txt"
	exit 1
fi

# Inline, every packet read gets exactly one verdict (the summary on
# stderr): a packet held and never released would be lost by the daemon.
verdicts=$(awk '
	/^summary: packets / { sub(/,.*/, "", $3); p = $3 }
	/^summary: verdicts: / { a = $4; d = $6; sub(/,/, "", a); sub(/,/, "", d) }
	END { if (p == "" || a == "") print "none"; else print p, a, d }' \
	"$out/stderr.txt")
read -r v_pkts v_acc v_drop <<<"$verdicts"
if [ "$v_pkts" = none ] || [ $((v_acc + v_drop)) -ne "$v_pkts" ]; then
	echo "FAIL: verdicts: $v_pkts packets read, ${v_acc:-?} accepted + ${v_drop:-?} dropped"
	grep '^summary:' "$out/stderr.txt"
	exit 1
fi

# The original's filter: keep what follows "starting single threaded
# processing", mask alert ids and wall-clock times, squeeze the padding.
awk '
	/starting single threaded processing/ { started = 1; skip = 1; next }
	!started { next }
	skip && /^$/ { skip = 0; next }
	{ skip = 0 }
	/^\ttime = / { next }
	/^debug +lua: +closing state/ { closing = 1 }
	{
		sub(/^alert: id = [0-9]+/, "alert: id = = <>")
		sub(/^alert: update id = [0-9]+/, "alert: update id = = <>")
		if (match($0, /^(debug|info|warn|error|fatal|trace) +[a-z_]+: +/)) {
			head = substr($0, 1, RLENGTH); rest = substr($0, RLENGTH + 1)
			n = split(head, w, /[ ]+/)
			$0 = w[1] " " w[2] " " rest
		}
		if (closing && $0 ~ /^debug conn: .* connection /)
			$0 = "debug conn: <cleanup> connection"
		print
	}' "$out/raw.txt" >"$out/out.txt"

status=0
if [ "${HAKA_REGEN:-0}" = 1 ]; then
	[ "$ref_txt" != - ] && cp "$out/out.txt" "$ref_txt"
	[ "$ref_pcap" != - ] && cp "$out/out.pcap" "$ref_pcap"
	echo "regenerated $name"
	exit 0
fi
if [ "$ref_txt" != - ]; then
	if ! diff -u "$ref_txt" "$out/out.txt"; then
		echo "FAIL: output differs from $ref_txt"
		status=1
	fi
fi
if [ -n "${HAKA_TEST_SUMMARY:-}" ] &&
    ! grep '^summary:' "$out/stderr.txt" | grep -q -E -- "$HAKA_TEST_SUMMARY"; then
	echo "FAIL: no summary line matches /$HAKA_TEST_SUMMARY/:"
	grep '^summary:' "$out/stderr.txt"
	status=1
fi
if [ "$ref_pcap" != - ]; then
	if ! "$pcapcmp" "$ref_pcap" "$out/out.pcap"; then
		echo "FAIL: forwarded capture differs from $ref_pcap"
		status=1
	fi
fi
[ $status -eq 0 ] && echo "PASS: $name"
exit $status
