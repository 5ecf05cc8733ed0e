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
# root, without `ip netns`, or when a namespace or a veth pair cannot be
# made.

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

# Root without CAP_SYS_ADMIN (a container) lists namespaces but cannot
# make one; a kernel without veth cannot give the second interface.
if ! ip netns add "$NS" 2>"$TMP/ip.err"; then
	echo "$0: skipped: cannot create a network namespace: $(cat "$TMP/ip.err")"
	exit 77
fi
if ! ip -n "$NS" link set lo up ||
	! ip -n "$NS" link add hkv0 type veth peer name hkv1 2>"$TMP/ip.err" ||
	! ip -n "$NS" link set hkv0 up; then
	echo "$0: skipped: cannot make the test interfaces: $(cat "$TMP/ip.err")"
	exit 77
fi

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
for _ in $(seq 200); do
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
