#!/bin/bash
#
# haka.current_thread() in the daemon's workers: haka captures live on two
# interfaces of a network namespace made for the test (one worker each),
# and a rule on haka.events.started, which every worker's Lua state hears,
# logs the worker's number. Both 0 and 1 must appear.
#
#   threads.sh BUILD_DIR
#
# Exits 0 when the check passes, 1 when it fails, 77 (skipped) when not
# root or without `ip netns`.

set -u
HAKA=${1:?usage: $0 BUILD_DIR}/haka

if [ "$(id -u)" != 0 ]; then
	echo "$0: skipped: must run as root"
	exit 77
fi
if ! ip netns list >/dev/null 2>&1; then
	echo "$0: skipped: ip netns not available"
	exit 77
fi

NS=hk-thr-$$
TMP=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

ip netns add "$NS" || exit 2
ip -n "$NS" link set lo up &&
	ip -n "$NS" link add hkv0 type veth peer name hkv1 &&
	ip -n "$NS" link set hkv0 up || exit 2

cat >"$TMP/threads.lua" <<'LUA'
haka.rule{on = haka.events.started, eval = function ()
	haka.log("worker thread %d started", haka.current_thread())
end}
LUA
cat >"$TMP/haka.conf" <<CONF
general:
  rules: $TMP/threads.lua
  pid_file: $TMP/haka.pid
capture:
  mode: pcap
  pcap:
    interfaces: [lo, hkv0]
control:
  socket: $TMP/ctl.sock
log:
  output: $TMP/haka.log
CONF

ip netns exec "$NS" "$HAKA" -c "$TMP/haka.conf" --no-daemon \
	>"$TMP/stdout" 2>&1 &
pid=$!
for _ in $(seq 50); do
	n=$(grep -c 'worker thread [0-9]* started' "$TMP/haka.log" 2>/dev/null)
	[ "${n:-0}" -ge 2 ] && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
kill -TERM "$pid" 2>/dev/null
wait "$pid"
rc=$?
pid=

status=0
for t in 0 1; do
	if grep -q "worker thread $t started" "$TMP/haka.log"; then
		echo "ok   worker $t: haka.current_thread() is $t"
	else
		echo "FAIL worker $t: no 'worker thread $t started' in the log"
		status=1
	fi
done
if [ $rc -ne 0 ]; then
	echo "FAIL haka exited with $rc"
	status=1
fi
if [ $status -ne 0 ]; then
	echo "--- log:"; cat "$TMP/haka.log"; echo "--- stdout:"; cat "$TMP/stdout"
fi
exit $status
