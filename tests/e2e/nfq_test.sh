#!/bin/bash
#
# End-to-end test of the NFQUEUE backend (src/capture/capture_nfq.c)
# through tests/tools/nfq_test_bridge. Needs root, iproute2, iptables,
# ethtool and socat.
#
#   nfq_test.sh BUILD_DIR
#
# Three network namespaces of its own, with a random suffix, made by
# topology.sh's topo_net_up (the topology of the haka end-to-end test,
# without Postfix):
#
#   cli 10.251.1.2 --- 10.251.1.1 gw 10.251.2.1 --- 10.251.2.2 srv
#
# gw forwards, and its FORWARD chain sends TCP port 5001 to the queue
# bound by the bridge (run inside gw). The client in cli sends to a socat
# server in srv. Traffic goes only to these namespaces; they and every
# process in them are removed at exit.
#
# Prints "N passed, M failed"; exits 1 when a check failed, 2 when the
# test could not run.

set -u

BUILD=${1:-}
if [ -z "$BUILD" ]; then
	echo "usage: $0 BUILD_DIR" >&2
	exit 2
fi
BRIDGE=$BUILD/tests/nfq_test_bridge
PORT=5001
QUEUE=7
MARK=0x4b41

if [ "$(id -u)" != 0 ]; then
	echo "$0: must run as root (skipped)" >&2
	exit 77
fi
if [ ! -x "$BRIDGE" ]; then
	echo "$0: $BRIDGE not built (skipped)" >&2
	exit 77
fi
for t in ip iptables ethtool socat timeout od; do
	if ! command -v "$t" >/dev/null; then
		echo "$0: $t not found (apt-get install iproute2 iptables ethtool socat; skipped)" >&2
		exit 77
	fi
done

. "$(dirname "$0")/topology.sh" # CLI, GW, SRV, SRV_IP, in_*, ok, ko
TMP=$(mktemp -d /tmp/nfq_test.XXXXXX)
PASS=0
FAIL=0
BRIDGE_PID=
SERVER_PID=

cleanup() {
	topo_net_down
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 2' INT TERM

check() {
	local what=$1
	shift
	if "$@"; then ok "$what"; else ko "$what"; fi
}

# Start a one-connection server in srv writing what it receives to $1.
start_server() {
	# Not through in_srv: $! must be the pid of socat itself.
	ip netns exec "$SRV" socat -u TCP-LISTEN:$PORT,reuseaddr CREATE:"$1" &
	SERVER_PID=$!
	local i
	for i in $(seq 50); do
		in_srv ss -Hltn "sport = :$PORT" | grep -q . && return 0
		sleep 0.1
	done
	return 1
}

stop_server() {
	if [ -n "$SERVER_PID" ]; then
		kill "$SERVER_PID" 2>/dev/null
		wait "$SERVER_PID" 2>/dev/null
		SERVER_PID=
	fi
}

# Start the bridge in gw with the given options; output in $TMP/bridge.out.
start_bridge() {
	: >"$TMP/bridge.out"
	ip netns exec "$GW" "$BRIDGE" -q $QUEUE -m $MARK "$@" \
	    >"$TMP/bridge.out" 2>&1 &
	BRIDGE_PID=$!
	local i
	for i in $(seq 50); do
		grep -q '^ready' "$TMP/bridge.out" && return 0
		kill -0 "$BRIDGE_PID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$TMP/bridge.out"
	return 1
}

# Stop the bridge; its exit status in BRIDGE_RC.
stop_bridge() {
	BRIDGE_RC=0
	if [ -n "$BRIDGE_PID" ]; then
		kill -TERM "$BRIDGE_PID" 2>/dev/null
		wait "$BRIDGE_PID"
		BRIDGE_RC=$?
		BRIDGE_PID=
	fi
}

# Value of counter $1 in the last stats line of the bridge.
stat() {
	grep '^stats' "$TMP/bridge.out" | tail -1 |
	    awk -v k="$1" '{ for (i = 2; i < NF; i += 2) if ($i == k) print $(i + 1) }'
}

# Ask the running bridge for its stats line.
poll_stats() {
	local n
	n=$(grep -c '^stats' "$TMP/bridge.out")
	kill -USR1 "$BRIDGE_PID" 2>/dev/null || return 1
	for i in $(seq 20); do
		[ "$(grep -c '^stats' "$TMP/bridge.out")" -gt "$n" ] && return 0
		sleep 0.1
	done
	return 1
}

nfqueue_rules() {
	in_gw iptables -w -S FORWARD | grep -c NFQUEUE
}

# Packets the NFQUEUE rules of gw matched.
nfqueue_hits() {
	in_gw iptables -w -vxnL FORWARD | awk '/NFQUEUE/ { s += $1 } END { print s + 0 }'
}

stats_consistent() {
	local r a d v
	r=$(stat received)
	a=$(stat accepted)
	d=$(stat dropped)
	v=$(stat verdict_errors)
	[ -n "$r" ] && [ "$r" -gt 0 ] && [ "$r" -eq $((a + d)) ] && [ "$v" -eq 0 ]
}

send() { # send FILE: client in cli sends FILE to the server
	in_cli timeout 20 socat -u OPEN:"$1" TCP:$SRV_IP:$PORT,connect-timeout=4
}

if ! topo_net_up; then
	echo "$0: cannot set the namespaces up" >&2
	exit 2
fi

head -c 300000 /dev/urandom | od -An -tx1 -v | tr -d ' \n' >"$TMP/data"
printf 'hello\n' >"$TMP/small"

# --- 1. bound queue, rules installed -------------------------------------
if ! start_bridge -i -p $PORT -l 1024; then
	ko "bridge starts (binds NFQUEUE $QUEUE, installs the rules)"
	echo "$PASS passed, $FAIL failed"
	exit 1
fi
ok "bridge starts (binds NFQUEUE $QUEUE, installs the rules)"
check "two rules (--dport, --sport) with the mark" \
    test "$(in_gw iptables -w -S FORWARD | grep NFQUEUE |
	grep -c -- "-m mark ! --mark $MARK -j NFQUEUE --queue-num $QUEUE")" = 2

# A second process cannot bind the same queue.
in_gw "$BRIDGE" -q $QUEUE >"$TMP/second.out" 2>&1
rc=$?
check "second bind refused with a clear message" \
    test $rc = 1 -a "$(grep -c "cannot bind NFQUEUE $QUEUE: .*already bound" "$TMP/second.out")" = 1

# --- 2. normal data passes ------------------------------------------------
start_server "$TMP/recv1"
send "$TMP/data"
wait "$SERVER_PID"
SERVER_PID=
check "600 KB pass through the queue unchanged" cmp -s "$TMP/data" "$TMP/recv1"

# --- 3. a segment with DROPME is dropped, again and again ----------------
start_server "$TMP/recv2"
{
	printf 'hello\n'
	sleep 1
	printf 'xx DROPME xx\n'
	sleep 3
} | in_cli timeout 5 socat -u - TCP:$SRV_IP:$PORT
stop_server
check "data before DROPME arrives" grep -q hello "$TMP/recv2"
check "DROPME never reaches the server" bash -c "! grep -q DROPME '$TMP/recv2'"
sleep 1
poll_stats
check "DROPME and its retransmissions dropped (>= 2)" test "$(stat dropped)" -ge 2
hits=$(nfqueue_hits)
check "received ($(stat received)) = iptables NFQUEUE hits ($hits)" \
    test "$(stat received)" = "$hits"
stop_bridge
check "bridge exits 0" test "$BRIDGE_RC" = 0
check "stats consistent: received = accepted + dropped, no errors" stats_consistent
check "rules removed at exit" test "$(nfqueue_rules)" = 0
cp "$TMP/bridge.out" "$TMP/bridge1.out"

# --- 4. drop and inject a rewritten copy (raw_injector, mark) -------------
in_gw iptables -w -A OUTPUT -m mark --mark $MARK
start_bridge -i -j -p $PORT
start_server "$TMP/recv3"
{
	printf 'hello\n'
	sleep 0.5
	printf 'xx DROPME xx\n'
	sleep 0.5
	printf 'bye\n'
} | in_cli timeout 10 socat -u - TCP:$SRV_IP:$PORT
rc=$?
wait "$SERVER_PID"
SERVER_PID=
check "connection completes with the injected copy" test $rc = 0
check "server gets the rewritten segment, never DROPME" \
    test "$(tr -d '\n' <"$TMP/recv3")" = "helloxx REWRTE xxbye"
marked=$(in_gw iptables -w -vxnL OUTPUT | awk '/mark/ { print $1 }')
stop_bridge
check "injected packets carry the mark (OUTPUT counter $marked)" \
    test "${marked:-0}" -ge 1
check "one injection, no error" \
    test "$(stat injected)" -ge 1 -a "$(stat inject_errors)" = 0
check "stats consistent with injection" stats_consistent
in_gw iptables -w -D OUTPUT -m mark --mark $MARK

# --- 5. queue bypass (--queue-bypass) with no program bound ---------------
in_gw "$BRIDGE" -q $QUEUE -m $MARK -I -b -p $PORT
check "rules installed alone (-I) with --queue-bypass" \
    test "$(in_gw iptables -w -S FORWARD | grep -c -- '--queue-bypass')" = 2
start_server "$TMP/recv4"
send "$TMP/small"
wait "$SERVER_PID"
SERVER_PID=
check "traffic passes with --queue-bypass and no listener" cmp -s "$TMP/small" "$TMP/recv4"
in_gw "$BRIDGE" -q $QUEUE -m $MARK -D -b -p $PORT
check "rules removed (-D)" test "$(nfqueue_rules)" = 0
in_gw "$BRIDGE" -q $QUEUE -m $MARK -D -b -p $PORT 2>"$TMP/del.err"
check "removing absent rules is tolerated" test $? = 0

in_gw "$BRIDGE" -q $QUEUE -m $MARK -I -p $PORT
start_server "$TMP/recv5"
send "$TMP/small"
rc=$?
stop_server
check "traffic blocked without --queue-bypass and no listener" \
    test $rc != 0 -a ! -s "$TMP/recv5"
in_gw "$BRIDGE" -q $QUEUE -m $MARK -D -p $PORT
check "rules removed" test "$(nfqueue_rules)" = 0

# --- 6. queue full: fail-open (NFQA_CFG_F_FAIL_OPEN) ----------------------
start_bridge -i -S -b -l 1 -p $PORT
start_server "$TMP/recv6"
send "$TMP/small"
wait "$SERVER_PID"
SERVER_PID=
stop_bridge
check "queue full, fail-open: traffic passes" cmp -s "$TMP/small" "$TMP/recv6"
# Unbinding meets the queued packets: they get a verdict, no crash.
check "stalled bridge exits 0" test "$BRIDGE_RC" = 0

start_bridge -i -S -l 1 -p $PORT
start_server "$TMP/recv7"
send "$TMP/small"
rc=$?
stop_server
stop_bridge
check "queue full, fail-closed: traffic blocked" test $rc != 0 -a ! -s "$TMP/recv7"
check "stalled bridge exits 0" test "$BRIDGE_RC" = 0
check "rules removed" test "$(nfqueue_rules)" = 0

# --- 7. receive buffer overrun: ENOBUFS counted, traffic recovers ---------
head -c 100000 "$TMP/data" >"$TMP/data100k"
start_bridge -i -p $PORT -r 4096 -d 50000
start_server "$TMP/recv8"
send "$TMP/data100k"
wait "$SERVER_PID"
SERVER_PID=
stop_bridge
check "ENOBUFS counted ($(stat enobufs)) and logged" \
    test "$(stat enobufs)" -ge 1 -a "$(grep -c ENOBUFS "$TMP/bridge.out")" -ge 1
check "data intact after ENOBUFS losses" cmp -s "$TMP/data100k" "$TMP/recv8"
check "stats consistent after ENOBUFS" stats_consistent

echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
