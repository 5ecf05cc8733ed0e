#!/usr/bin/env bash
# bench/run_nfq.sh: inline (NFQUEUE) benchmark of the haka daemon. See
# bench/README.md ("Inline benchmark").
#
# usage: bench/run_nfq.sh [BUILD_DIR]      (default ./build)
#
# Three network namespaces cli -- gw -- srv (tests/e2e/topology.sh); gw
# forwards, srv runs the SMTP sink of bench/smtp_load.py. For each configuration
#
#   noqueue    plain forwarding, no iptables rule
#   accept-1q  bench/nfq_acceptall on queue 0
#   accept-2q  two nfq_acceptall on queues 0 and 1 (--queue-balance 0:1)
#   haka-1q    haka with rules/spam_filter.lua, queue 0
#   haka-2q    haka with rules/spam_filter.lua, queues 0-1 (2 workers)
#
# it measures the NOOP round trip (idle) and then runs REPS times the bulk
# load (SESSIONS concurrent sessions of MESSAGES messages of SIZE bytes), and prints
# a table and the targets haka-Nq / accept-Nq >= 80% of the Mbit/s.
#
# Environment: SESSIONS (8), SIZE (8M), MESSAGES (4), REPS (7), LAT_COUNT (500),
# OFFLOAD=0 skips the extra pass with the veth offloads on (default 1;
# OFFLOAD_REPS runs per configuration, default 2),
# KEEP=1 keeps the temporary directory (logs).
# Needs root, iproute2, iptables (nft backend), ethtool, /usr/bin/python3.
# Exits 0 when the measurements were made (PASS or FAIL alike), 1 when
# something could not be run, 2 if interrupted.
set -uo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC_DIR=$(cd "$BENCH_DIR/.." && pwd)
BUILD_ARG=${1:-./build}
if [[ ! -d $BUILD_ARG ]]; then
	echo "run_nfq.sh: build directory '$BUILD_ARG' not found" >&2
	exit 1
fi
BUILD_DIR=$(cd "$BUILD_ARG" && pwd)
HAKA=$BUILD_DIR/haka
HAKACTL=$BUILD_DIR/hakactl
ACCEPTALL=$BUILD_DIR/bench/nfq_acceptall
PY=/usr/bin/python3
LOADPY=$BENCH_DIR/smtp_load.py
RULES=$SRC_DIR/rules/spam_filter.lua

SESSIONS=${SESSIONS:-8}
SIZE=${SIZE:-8M}
MESSAGES=${MESSAGES:-4}
REPS=${REPS:-7}
LAT_COUNT=${LAT_COUNT:-500}
OFFLOAD=${OFFLOAD:-1}
OFFLOAD_REPS=${OFFLOAD_REPS:-2}
MARK=0xffff

for f in "$HAKA" "$HAKACTL" "$ACCEPTALL" "$PY" "$LOADPY" "$RULES"; do
	if [[ ! -x $f && ! -r $f ]]; then
		echo "run_nfq.sh: $f missing (build with cmake --build $BUILD_DIR)" >&2
		exit 1
	fi
done
if [[ $(id -u) != 0 ]]; then
	echo "run_nfq.sh: needs root (network namespaces, NFQUEUE)" >&2
	exit 1
fi

# --- topology ----------------------------------------------------------------

# The network of the end-to-end tests (its Postfix is not used).
if [[ ! -r $SRC_DIR/tests/e2e/topology.sh ]]; then
	echo "run_nfq.sh: $SRC_DIR/tests/e2e/topology.sh missing" >&2
	exit 1
fi
# shellcheck source=../tests/e2e/topology.sh
source "$SRC_DIR/tests/e2e/topology.sh"
# The four ends of the two veth pairs (the names of topology.sh).
VETHS=("$CLI e2c0" "$GW e2g0" "$GW e2g1" "$SRV e2s0")

set_offloads() { # on|off
	local v
	for v in "${VETHS[@]}"; do
		set -- $v
		ip netns exec "$1" ethtool -K "$2" tx "$OFF_STATE" tso "$OFF_STATE" \
		    gso "$OFF_STATE" >/dev/null 2>&1 || return 1
	done
}

TMP=
# Started with ip netns exec itself (it execs the command: $! is the
# program), never through in_gw & (a subshell would be killed instead).
QPIDS=()      # queue programs (nfq_acceptall or haka) of the current config
SINK_PID=
HAKA_CTL_SOCK=

stop_queue_programs() {
	local p i
	for p in "${QPIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${QPIDS[@]}"; do
		for i in $(seq 100); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	QPIDS=()
}

cleanup() {
	local ns pids
	set +e
	trap - EXIT INT TERM HUP
	stop_queue_programs
	[[ -n $SINK_PID ]] && kill "$SINK_PID" 2>/dev/null
	for ns in "$CLI" "$GW" "$SRV"; do
		pids=$(ip netns pids "$ns" 2>/dev/null)
		[[ -n $pids ]] && kill $pids 2>/dev/null
	done
	sleep 0.2
	for ns in "$CLI" "$GW" "$SRV"; do
		pids=$(ip netns pids "$ns" 2>/dev/null)
		[[ -n $pids ]] && kill -9 $pids 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	if [[ -n $TMP && -d $TMP ]]; then
		if [[ -n ${KEEP:-} ]]; then
			echo "# kept $TMP"
		else
			rm -rf "$TMP"
		fi
	fi
}
trap cleanup EXIT
trap 'exit 2' INT TERM HUP

die() {
	echo "run_nfq.sh: $*" >&2
	exit 1
}

TMP=$(mktemp -d /tmp/haka-bench-nfq.XXXXXX) || die "mktemp"
topo_net_up || die "cannot create the namespaces"
OFF_STATE=off
set_offloads || die "ethtool -K failed"

ip netns exec "$SRV" "$PY" "$LOADPY" server --host "$SRV_IP" --port 25 \
    >"$TMP/sink.out" 2>&1 &
SINK_PID=$!
for i in $(seq 50); do
	in_srv bash -c "exec 3<>/dev/tcp/$SRV_IP/25" 2>/dev/null && break
	sleep 0.1
done
in_srv bash -c "exec 3<>/dev/tcp/$SRV_IP/25" 2>/dev/null ||
	die "the SMTP sink does not listen: $(cat "$TMP/sink.out")"

# --- measurements ------------------------------------------------------------

# Queue rules as haka installs them (capture_nfq.c nfq_iptables).
acceptall_rules() { # -I|-D QOPT QVAL
	local dir
	for dir in --dport --sport; do
		in_gw iptables -w -t filter "$1" FORWARD -p tcp $dir 25 \
		    -m mark ! --mark $MARK -j NFQUEUE "$2" "$3" --queue-bypass ||
			return 1
	done
}

# CPU ticks (utime + stime, all threads) of the queue programs.
qprog_ticks() {
	local p t=0 f
	for p in "${QPIDS[@]}"; do
		f=$(cut -d' ' -f14,15 "/proc/$p/stat" 2>/dev/null) || continue
		set -- $f
		t=$((t + $1 + $2))
	done
	echo $t
}
# Machine busy ticks (all CPUs, everything but idle and iowait).
machine_ticks() {
	awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat
}
# Packets forwarded by gw: received on its two veths.
gw_packets() {
	in_gw cat /sys/class/net/e2g0/statistics/rx_packets \
	    /sys/class/net/e2g1/statistics/rx_packets | awk '{s+=$1} END{print s}'
}
# Packets queued so far on all queues of gw (id_sequence).
queued_packets() {
	in_gw cat /proc/net/netfilter/nfnetlink_queue 2>/dev/null |
		awk '{s+=$8} END{print s+0}'
}
# Packets dropped by the queues (queue full or user-space too slow).
queue_drops() {
	in_gw cat /proc/net/netfilter/nfnetlink_queue 2>/dev/null |
		awk '{s+=$6+$7} END{print s+0}'
}

HZ=$(getconf CLK_TCK)
RESULTS=()

start_config() { # NAME
	case $1 in
	noqueue) ;;
	accept-1q)
		acceptall_rules -I --queue-num 0 || return 1
		ip netns exec "$GW" "$ACCEPTALL" 0 >"$TMP/acceptall0.out" 2>&1 &
		QPIDS=($!)
		;;
	accept-2q)
		acceptall_rules -I --queue-balance 0:1 || return 1
		ip netns exec "$GW" "$ACCEPTALL" 0 >"$TMP/acceptall0.out" 2>&1 &
		QPIDS=($!)
		ip netns exec "$GW" "$ACCEPTALL" 1 >"$TMP/acceptall1.out" 2>&1 &
		QPIDS+=($!)
		;;
	haka-1q | haka-2q)
		local q='[0]'
		[[ $1 == haka-2q ]] && q='"0-1"'
		HAKA_CTL_SOCK=$TMP/haka-ctl.sock
		cat >"$TMP/haka.conf" <<EOF
general:
  rules: $RULES
  pid_file: $TMP/haka.pid
capture:
  mode: nfqueue
  nfqueue:
    queues: $q
    iptables: auto
    chain: FORWARD
    port: 25
    fail: open
    mark: $MARK
log:
  level: info
  output: $TMP/haka-$1.log
alerts:
  - type: file
    path: $TMP/alerts-$1.log
    format: oneline
control:
  socket: $HAKA_CTL_SOCK
EOF
		ip netns exec "$GW" "$HAKA" -c "$TMP/haka.conf" --no-daemon \
		    >"$TMP/haka-$1.out" 2>&1 &
		QPIDS=($!)
		local i
		for i in $(seq 100); do
			kill -0 "${QPIDS[0]}" 2>/dev/null || {
				cat "$TMP/haka-$1.out" "$TMP/haka-$1.log" >&2
				QPIDS=()
				return 1
			}
			in_gw "$HAKACTL" --ctl-file "$HAKA_CTL_SOCK" status \
			    >/dev/null 2>&1 && break
			sleep 0.1
		done
		;;
	esac
	# Ready when every queue has a listener (peer_portid != 0).
	if [[ $1 != noqueue ]]; then
		local want=1 i
		[[ $1 == *-2q ]] && want=2
		for i in $(seq 100); do
			[[ $(in_gw cat /proc/net/netfilter/nfnetlink_queue 2>/dev/null |
				awk '$2 != 0' | wc -l) -ge $want ]] && return 0
			sleep 0.1
		done
		echo "run_nfq.sh: $1: the queues are not bound" >&2
		return 1
	fi
}

stop_config() { # NAME
	case $1 in
	accept-1q)
		stop_queue_programs
		acceptall_rules -D --queue-num 0
		;;
	accept-2q)
		stop_queue_programs
		acceptall_rules -D --queue-balance 0:1
		;;
	haka-*)
		in_gw "$HAKACTL" --ctl-file "$HAKA_CTL_SOCK" stats \
		    >"$TMP/haka-$1.stats" 2>&1
		stop_queue_programs
		if in_gw iptables -S FORWARD | grep -q NFQUEUE; then
			echo "run_nfq.sh: $1: haka left its NFQUEUE rules" >&2
			in_gw iptables -F FORWARD
		fi
		;;
	esac
	return 0
}

ALLCPUS=0-$(($(nproc) - 1))
# pin CPULIST PID...: set the affinity of every thread of the processes.
pin() {
	local cpus=$1 p
	shift
	for p in "$@"; do
		taskset -a -p -c "$cpus" "$p" >/dev/null 2>&1
	done
}

# Totals per configuration, over its runs.
declare -A BYTES SECS PKTS QPK QT MT FAIL DROPS MLIST LMED LP99

# run_one NAME: one run of a configuration: start it, NOOP latency, one
# bulk load, stop it; adds to the totals.
run_one() {
	local name=$1 out lat w p0 p1 q0 q1 t0 t1 m0 m1 d0 d1
	start_config "$name" || { stop_config "$name"; return 1; }
	# The NOOP probe with every process of the path on CPU 0: the round
	# trip then measures the work on the path, not where the scheduler
	# happened to put the two ends (a cross-CPU wakeup costs 50-70 us on
	# this kind of machine and made the medians bimodal).
	pin 0 "$SINK_PID" "${QPIDS[@]}"
	lat=$(in_cli taskset -c 0 "$PY" "$LOADPY" latency "$SRV_IP" \
	    --count "$LAT_COUNT")
	local rc=$?
	pin "$ALLCPUS" "$SINK_PID" "${QPIDS[@]}"
	if [[ $rc != 0 ]]; then
		stop_config "$name"
		echo "run_nfq.sh: $name: latency probe failed" >&2
		return 1
	fi
	w=($lat) # latency count N median_us M p99_us P ...
	local lmed=${w[4]}
	LMED[$name]+=" ${w[4]}" LP99[$name]+=" ${w[6]}"
	d0=$(queue_drops)
	p0=$(gw_packets) q0=$(queued_packets) t0=$(qprog_ticks) m0=$(machine_ticks)
	out=$(in_cli "$PY" "$LOADPY" load "$SRV_IP" --sessions "$SESSIONS" \
	    --size "$SIZE" --messages "$MESSAGES" 2>>"$TMP/load.err")
	p1=$(gw_packets) q1=$(queued_packets) t1=$(qprog_ticks) m1=$(machine_ticks)
	d1=$(queue_drops)
	stop_config "$name"
	# load sessions N messages M bytes B seconds S mbps X failed F
	w=($out)
	if [[ ${w[0]:-} != load || ${w[12]} != 0 ]]; then
		FAIL[$name]=$((${FAIL[$name]:-0} + 1))
		return 0
	fi
	BYTES[$name]=$((${BYTES[$name]:-0} + w[6]))
	SECS[$name]=$(awk -v a="${SECS[$name]:-0}" -v b="${w[8]}" 'BEGIN{print a+b}')
	PKTS[$name]=$((${PKTS[$name]:-0} + p1 - p0))
	QPK[$name]=$((${QPK[$name]:-0} + q1 - q0))
	QT[$name]=$((${QT[$name]:-0} + t1 - t0))
	MT[$name]=$((${MT[$name]:-0} + m1 - m0))
	DROPS[$name]=$((${DROPS[$name]:-0} + d1 - d0))
	MLIST[$name]+=" ${w[10]}"
	echo "# $name: ${w[10]} Mbit/s, $((p1 - p0)) packets forwarded," \
	    "$((q1 - q0)) queued, $((t1 - t0)) + $((m1 - m0)) ticks," \
	    "NOOP median $lmed us" >&2
}

# summarize NAME: its result line in RESULTS:
# name Mbit/s pkt/s qprog_us/pkt total_us/pkt queued% rtt_med rtt_p99
# min-max(Mbit/s of the runs) failed_runs queue_drops
summarize() {
	local name=$1
	RESULTS+=("$(awk -v n="$name" -v by="${BYTES[$name]:-0}" \
	    -v s="${SECS[$name]:-0}" -v p="${PKTS[$name]:-0}" \
	    -v q="${QPK[$name]:-0}" -v qt="${QT[$name]:-0}" \
	    -v mt="${MT[$name]:-0}" -v hz="$HZ" -v lm="${LMED[$name]:-}" \
	    -v lp="${LP99[$name]:-}" -v ml="${MLIST[$name]:-}" \
	    -v f="${FAIL[$name]:-0}" -v dr="${DROPS[$name]:-0}" \
	    -v isq="$([[ $name == noqueue ]] && echo 0 || echo 1)" '
	function median(str,   a, k, i, j, t) {
		k = split(str, a, " ")
		if (k == 0) return 0
		for (i = 1; i <= k; i++)
			for (j = i + 1; j <= k; j++)
				if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
		return (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
	}
	BEGIN{
		k = split(ml, a, " "); lo = 1e18; hi = 0
		for (i = 1; i <= k; i++) { if (a[i] + 0 < lo) lo = a[i]; if (a[i] + 0 > hi) hi = a[i] }
		if (k == 0) lo = 0
		# The median run: one run disturbed by another process on the
		# machine does not move it.
		mb = median(ml)
		pps = (s > 0) ? p / s : 0
		qus = isq ? sprintf("%.2f", (p > 0) ? qt / hz * 1e6 / p : 0) : "-"
		mus = (p > 0) ? mt / hz * 1e6 / p : 0
		qpc = isq ? sprintf("%.1f", (p > 0) ? 100 * q / p : 0) : "-"
		printf("%s %.1f %.0f %s %.2f %s %.0f %.0f %.0f-%.0f %d %d\n", n,
		    mb, pps, qus, mus, qpc, median(lm), median(lp), lo, hi, f, dr) }')")
}

# measure REPS CONFIG...: the runs interleaved (run 1 of every
# configuration, then run 2...), so that a slow phase of the machine does
# not fall on one configuration only; then one result line each.
measure() {
	local reps=$1 r c
	shift
	RESULTS=()
	for c in "$@"; do
		unset "BYTES[$c]" "SECS[$c]" "PKTS[$c]" "QPK[$c]" "QT[$c]" "MT[$c]" \
		    "FAIL[$c]" "DROPS[$c]" "MLIST[$c]" "LMED[$c]" "LP99[$c]"
	done
	for r in $(seq "$reps"); do
		for c in "$@"; do
			run_one "$c" || return 1
		done
	done
	for c in "$@"; do
		summarize "$c"
	done
}

print_table() { # TITLE
	echo
	echo "$1"
	awk 'BEGIN{
		printf "%-10s %9s %9s %12s %12s %9s %8s %8s %9s %9s %12s\n",
		    "config", "Mbit/s", "pkt/s", "qprog_us/pk", "total_us/pk",
		    "queued%", "rtt_med", "rtt_p99", "+rtt_med", "+rtt_p99",
		    "runs_Mbit/s"
	}
	NR == 1 && $1 == "noqueue" { bm = $7; bp = $8 }
	{
		printf "%-10s %9s %9s %12s %12s %9s %8s %8s %9s %9s %12s%s\n",
		    $1, $2, $3, $4, $5, $6, $7, $8,
		    bm != "" ? sprintf("%+d", $7 - bm) : "-",
		    bm != "" ? sprintf("%+d", $8 - bp) : "-", $9,
		    ($10 > 0 ? "  FAILED SESSIONS " $10 : "") \
		    ($11 > 0 ? "  QUEUE DROPS " $11 : "")
	}' < <(printf '%s\n' "${RESULTS[@]}")
}

# target HAKA ACCEPT: the ratio of the medians, and the median of the
# ratios of the runs made one after the other (haka-Nq right after
# accept-Nq in every round), which a load of the machine that comes and
# goes affects least. PASS when both are >= 80%.
target() {
	local h a
	h=$(printf '%s\n' "${RESULTS[@]}" | awk -v n="$1" '$1 == n {print $2}')
	a=$(printf '%s\n' "${RESULTS[@]}" | awk -v n="$2" '$1 == n {print $2}')
	[[ -n $h && -n $a ]] || { echo "$1 / $2 >= 80%: not measured"; return; }
	awk -v h="$h" -v a="$a" -v hn="$1" -v an="$2" -v hl="${MLIST[$1]}" \
	    -v al="${MLIST[$2]}" 'BEGIN{
		r = (a > 0) ? 100 * h / a : 0
		k = split(hl, x, " "); split(al, y, " ")
		for (i = 1; i <= k; i++) z[i] = (y[i] > 0) ? 100 * x[i] / y[i] : 0
		for (i = 1; i <= k; i++)
			for (j = i + 1; j <= k; j++)
				if (z[j] < z[i]) { t = z[i]; z[i] = z[j]; z[j] = t }
		pr = (k == 0) ? 0 : (k % 2) ? z[(k + 1) / 2] : (z[k / 2] + z[k / 2 + 1]) / 2
		lo = (k == 0) ? 0 : z[1]; hi = (k == 0) ? 0 : z[k]
		v = (r >= 80 && pr >= 80) ? "PASS" : "FAIL"
		printf("%s / %s >= 80%%: %.0f%% (medians %s / %s Mbit/s), " \
		    "paired runs median %.0f%% (%.0f-%.0f%%): %s\n", hn, an,
		    r, h, a, pr, lo, hi, v) }'
}

echo "# run_nfq.sh: $SESSIONS sessions x $MESSAGES messages x $SIZE, $REPS runs per config," \
    "NOOP latency x $LAT_COUNT; namespaces $CLI $GW $SRV; $(nproc) CPUs"
measure "$REPS" noqueue accept-1q haka-1q accept-2q haka-2q ||
	die "a run failed (KEEP=1 keeps the logs)"
print_table "veth offloads off (tx, tso, gso): packets of at most 1500 bytes"
echo
target haka-1q accept-1q
target haka-2q accept-2q

if [[ $OFFLOAD != 0 ]]; then
	OFF_STATE=on
	set_offloads || die "ethtool -K on failed"
	measure "$OFFLOAD_REPS" noqueue accept-1q haka-1q ||
		die "a run with the offloads on failed"
	echo
	print_table "veth offloads on (GSO packets up to 64 KB), $OFFLOAD_REPS runs each"
	avg=$(grep -h '^packets' "$TMP"/acceptall0.out 2>/dev/null |
		awk '$2 > 0 {printf "%.0f", $4 / $2}')
	echo "accept-1q average queued packet: ${avg:-?} bytes;" \
	    "haka queue_gso: $(awk '$1 == "queue_gso" {print $2}' \
	    "$TMP/haka-haka-1q.stats" 2>/dev/null) of" \
	    "$(awk '$1 == "queue_received" {print $2}' \
	    "$TMP/haka-haka-1q.stats" 2>/dev/null) packets"
fi
exit 0
