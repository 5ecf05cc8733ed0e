#!/bin/bash
#
# End-to-end tests of the haka daemon inline on NFQUEUE in front of a
# Postfix server (issue 4, point 6):
#
#   e2e_haka.sh BUILD_DIR SOURCE_DIR
#
# BUILD_DIR holds haka and hakactl. The topology (namespaces cli, gw, srv,
# a private Postfix instance in srv, haka in gw) is tests/e2e/topology.sh.
# Every check prints "ok" or "FAIL" with its reason; the script ends with
# "N passed, M failed" and exits 1 when a check failed, 77 (skipped) when
# not root or without `ip netns`, 2 when the test bed cannot be built.
# E2E_KEEP=1 keeps the temporary directory (logs, configurations).

set -u

BUILD=${1:-}
SRC=${2:-}
if [ -z "$BUILD" ] || [ -z "$SRC" ]; then
	echo "usage: $0 BUILD_DIR SOURCE_DIR" >&2
	exit 2
fi
BUILD=$(cd "$BUILD" && pwd) && SRC=$(cd "$SRC" && pwd) || exit 2
HAKA=$BUILD/haka
HAKACTL=$BUILD/hakactl
HERE=$SRC/tests/e2e
RAW="/usr/bin/python3 $HERE/raw_client.py"

if [ "$(id -u)" != 0 ]; then
	echo "$0: skipped: must run as root"
	exit 77
fi
if ! ip netns list >/dev/null 2>&1; then
	echo "$0: skipped: ip netns not available"
	exit 77
fi
for t in iptables ethtool postfix postconf swaks timeout /usr/bin/python3 \
    "$HAKA" "$HAKACTL"; do
	if ! command -v "$t" >/dev/null; then
		echo "$0: $t not found (scripts/install-deps.sh, build haka)" >&2
		exit 2
	fi
done

. "$HERE/topology.sh"

PASS=0
FAIL=0
START=$(date +%s)

# A token unique to this run and check.
token() { echo "e2e-$E2E_SUF-$1-$RANDOM$RANDOM"; }

# send_mail TOKEN FROM TO [swaks options...]: swaks from cli; output in
# $E2E_TMP/swaks-TOKEN.out; returns swaks' status.
send_mail() {
	local tok=$1 from=$2 to=$3
	shift 3
	timeout 60 ip netns exec "$CLI" swaks --server "$SRV_IP" --port 25 \
	    --helo client.haka.test --from "$from" --to "$to" \
	    --header "Subject: haka e2e $tok" --body "body of $tok" \
	    --timeout 10 "$@" >"$E2E_TMP/swaks-$tok.out" 2>&1
}

# delivered USER TOKEN [SECONDS]: the token appears in /var/mail/USER.
delivered() {
	local i
	for i in $(seq $((${3:-15} * 5))); do
		grep -qF "$2" "/var/mail/$1" 2>/dev/null && return 0
		sleep 0.2
	done
	return 1
}

# Lines of $2 holding $1; 0 when the file does not exist (yet), so that a
# comparison with an earlier count never sees an empty operand.
count() {
	local n
	n=$(grep -cF -- "$1" "$2" 2>/dev/null)
	echo "${n:-0}"
}

alerts_forbidden() { count "forbidden mail domain" "$HAKA_ALERTS"; }

# Postfix never saw the sender (no MAIL command reached it).
pf_never_saw() { ! grep -qF "$1" "$PF_LOG"; }

# Wait for a line in a file.
wait_for() {
	local i
	for i in $(seq $((${3:-10} * 5))); do
		grep -qF "$1" "$2" 2>/dev/null && return 0
		sleep 0.2
	done
	return 1
}

# The rules: a copy of rules/spam_filter.lua, and the same resetting.
RULES=
RESET_RULES=
make_rules() {
	RULES=$E2E_TMP/spam_filter.lua
	RESET_RULES=$E2E_TMP/spam_reset.lua
	cp "$SRC/rules/spam_filter.lua" "$RULES" &&
	sed 's/flow:drop()/flow:reset()/' "$RULES" >"$RESET_RULES" &&
	grep -q 'flow:reset()' "$RESET_RULES"
}

# --- the checks ----------------------------------------------------------------

# 1. clean mail delivered
t_clean() {
	local tok
	tok=$(token clean)
	if ! send_mail "$tok" "alice@client.haka.test" "$MAIL_USER@$MAIL_DOMAIN"; then
		ko "1 clean mail: swaks failed: $(tail -n 3 "$E2E_TMP/swaks-$tok.out" | tr '\n' ' ')"
	elif ! delivered "$MAIL_USER" "$tok"; then
		ko "1 clean mail: $tok not in /var/mail/$MAIL_USER"
	else
		ok "1 clean mail delivered through haka"
	fi
}

# 2. forbidden sender blocked
t_forbidden() {
	local tok before
	tok=$(token forbidden)
	before=$(alerts_forbidden)
	if send_mail "$tok" "x@suspicious.org" "$MAIL_USER@$MAIL_DOMAIN" \
	    --timeout 5; then
		ko "2 forbidden sender: swaks succeeded"
		return
	fi
	sleep 1
	if grep -qF "$tok" "/var/mail/$MAIL_USER" 2>/dev/null; then
		ko "2 forbidden sender: the mail was delivered"
	elif ! pf_never_saw "suspicious.org"; then
		ko "2 forbidden sender: Postfix saw the sender: $(grep -F suspicious.org "$PF_LOG" | head -n 1)"
	elif grep -A1 -e '-> MAIL FROM' "$E2E_TMP/swaks-$tok.out" | grep -q '<- *250'; then
		ko "2 forbidden sender: unexpected dialogue: $(tail -n 4 "$E2E_TMP/swaks-$tok.out" | tr '\n' ' ')"
	elif [ "$(alerts_forbidden)" -le "$before" ]; then
		ko "2 forbidden sender: no 'forbidden mail domain' alert in $HAKA_ALERTS"
	else
		ok "2 forbidden sender blocked (MAIL dropped, alert raised)"
	fi
}

# 3. the sender split across two TCP segments. The pause (50 ms, with
# TCP_NODELAY: two segments) stays under the client's minimum RTO (200 ms):
# haka holds the first half unacknowledged, and once the client's
# retransmission timer fires TCP sends nothing new (see t_split_slow).
t_split() {
	local before out rc pause=${1:-0.05} name=${2:-3}
	before=$(alerts_forbidden)
	out=$E2E_TMP/raw-split-$name.out
	ip netns exec "$CLI" $RAW --timeout 5 --pause "$pause" "$SRV_IP" 25 \
	    '<' '>EHLO client.haka.test\r\n' '<' \
	    '>MAIL FROM:<x@suspi' '>cious.org>\r\n' '<' >"$out" 2>&1
	rc=$?
	sleep 1
	if ! grep -q '^recv: 250 ' "$out"; then
		ko "$name split sender: EHLO failed: $(tr '\n' ' ' <"$out")"
	elif [ $rc = 0 ]; then
		ko "$name split sender: Postfix answered the MAIL command: $(tail -n 2 "$out" | tr '\n' ' ')"
	elif ! pf_never_saw "suspicious.org"; then
		ko "$name split sender: Postfix saw the sender: $(grep -F suspicious.org "$PF_LOG" | head -n 1)"
	elif [ "$(alerts_forbidden)" -le "$before" ]; then
		ko "$name split sender: no 'forbidden mail domain' alert"
	else
		ok "$name sender split across two segments (pause $pause s) blocked ($(tail -n 1 "$out"))"
	fi
}


# 3b. a legitimate sender split by a slow client (pause 1 s, over the
# client's RTO): haka holds the first half; the client's retransmission of
# it is forwarded (the stream keeps the held copy for the verdict), so the
# server acknowledges it and the client sends the second half.
t_split_slow() {
	local out rc
	out=$E2E_TMP/raw-split-slow.out
	ip netns exec "$CLI" $RAW --timeout 4 --pause 1 "$SRV_IP" 25 \
	    '<' '>EHLO client.haka.test\r\n' '<' \
	    '>MAIL FROM:<carol@client.ha' '>ka.test>\r\n' '<' \
	    '>QUIT\r\n' '<' >"$out" 2>&1
	rc=$?
	if [ $rc = 0 ] && grep -q '^recv: 250 2.1.0' "$out"; then
		ok "3b legitimate sender split by a 1 s pause accepted"
	else
		ko "3b legitimate sender split by a 1 s pause: the session stalls ($(tail -n 1 "$out"))"
	fi
}

# 3c. SIGTERM while packets keep arriving on the queue (a client
# retransmitting a held segment): haka must exit 0 and remove its rules
# (it crashed before 9ef2de5: libnfnetlink dispatched them while unbinding).
t_stop_busy() {
	local conf=$E2E_TMP/haka-busy.conf rpid
	topo_haka_conf "$conf" "$RULES" open auto
	if ! topo_haka_start "$conf"; then
		ko "3c stop under traffic: haka did not start"
		return
	fi
	ip netns exec "$CLI" $RAW --timeout 8 --pause 0.5 "$SRV_IP" 25 \
	    '<' '>EHLO client.haka.test\r\n' '<' \
	    '>MAIL FROM:<carol@client.ha' '>ka.test>\r\n' '<' \
	    >"$E2E_TMP/raw-busy.out" 2>&1 &
	rpid=$!
	sleep 3
	topo_haka_stop
	wait "$rpid"
	if [ "$HAKA_RC" != 0 ]; then
		ko "3c SIGTERM while a client retransmits: haka exited $HAKA_RC$(grep -q Segmentation "$HAKA_OUT" && echo ' (SIGSEGV)')"
	elif in_gw iptables -S FORWARD | grep -q NFQUEUE; then
		ko "3c SIGTERM while a client retransmits: the iptables rules were left"
	else
		ok "3c SIGTERM while a client retransmits into the queue: exit 0, rules removed"
	fi
	gw_flush
}

# After a haka that did not stop cleanly: no rule of it may stay.
gw_flush() { in_gw iptables -F FORWARD; }

# 5. pipelining, two recipients, 300 kB attachment
t_pipeline() {
	local tok att sum u bad=
	tok=$(token pipeline)
	att=$E2E_TMP/attachment.bin
	head -c 307200 /dev/urandom >"$att"
	sum=$(sha256sum "$att" | cut -d' ' -f1)
	if ! send_mail "$tok" "bob@client.haka.test" \
	    "$MAIL_USER@$MAIL_DOMAIN,$MAIL_USER2@$MAIL_DOMAIN" \
	    --pipeline --attach-type application/octet-stream \
	    --attach-name attachment.bin --attach "@$att"; then
		ko "5 pipelined mail: swaks failed: $(tail -n 3 "$E2E_TMP/swaks-$tok.out" | tr '\n' ' ')"
		return
	fi
	if ! grep -q 'PIPELINING' "$E2E_TMP/swaks-$tok.out"; then
		ko "5 pipelined mail: the server did not offer PIPELINING"
		return
	fi
	for u in "$MAIL_USER" "$MAIL_USER2"; do
		if ! delivered "$u" "$tok" 30; then
			bad="$bad $u: not delivered;"
			continue
		fi
		sleep 0.5
		got=$(/usr/bin/python3 - "/var/mail/$u" "$tok" <<'EOF'
import hashlib, mailbox, sys
found = None
for msg in mailbox.mbox(sys.argv[1]):
    if sys.argv[2] in (msg.get('Subject') or ''):
        found = msg
if found is None:
    print('no-message')
    sys.exit(0)
for part in found.walk():
    if part.get_filename() == 'attachment.bin':
        print(hashlib.sha256(part.get_payload(decode=True)).hexdigest())
        sys.exit(0)
print('no-attachment')
EOF
)
		[ "$got" = "$sum" ] || bad="$bad $u: attachment $got, expected $sum;"
	done
	if [ -n "$bad" ]; then
		ko "5 pipelined mail:$bad"
	else
		ok "5 pipelined mail, 2 recipients, 300 kB attachment intact (sha256 $sum)"
	fi
}

# 4. a resetting rule
t_reset() {
	local out rc
	out=$E2E_TMP/raw-reset.out
	local lost_before
	lost_before=$(count "lost connection" "$PF_LOG")
	ip netns exec "$CLI" $RAW --timeout 5 "$SRV_IP" 25 \
	    '<' '>EHLO client.haka.test\r\n' '<' \
	    '>MAIL FROM:<x@suspicious.org>\r\n' '<' >"$out" 2>&1
	rc=$?
	local i
	for i in $(seq 50); do
		[ "$(count "lost connection" "$PF_LOG")" -gt "$lost_before" ] && break
		sleep 0.2
	done
	if [ $rc != 4 ] && [ $rc != 5 ]; then
		ko "4 reset: the client saw $(tail -n 1 "$out"), expected RESET or EOF: $(tr '\n' ' ' <"$out")"
	elif [ "$(count "lost connection" "$PF_LOG")" -le "$lost_before" ]; then
		ko "4 reset: Postfix did not log 'lost connection'"
	elif ! pf_never_saw "suspicious.org"; then
		ko "4 reset: Postfix saw the sender"
	else
		ok "4 reset: client saw $(tail -n 1 "$out" | cut -d' ' -f2), Postfix: $(grep -F 'lost connection' "$PF_LOG" | tail -n 1 | sed 's/.*\(lost connection.*\)/\1/')"
	fi
}

# 6. fail open and fail closed with rules that stay (iptables: manual)
gw_rules() {
	local op=$1 bypass=$2 dir
	for dir in --dport --sport; do
		in_gw iptables "$op" FORWARD -p tcp $dir 25 -m mark ! --mark 0xffff \
		    -j NFQUEUE --queue-num 0 $bypass || return 1
	done
}

t_fail_open() {
	local tok conf=$E2E_TMP/haka-manual-open.conf
	topo_haka_conf "$conf" "$RULES" open manual
	if ! gw_rules -A --queue-bypass; then
		ko "6 fail open: cannot install the iptables rules"
		return
	fi
	if ! topo_haka_start "$conf"; then
		ko "6 fail open: haka did not start"
		gw_rules -D --queue-bypass
		return
	fi
	tok=$(token open-running)
	if ! send_mail "$tok" "carol@client.haka.test" "$MAIL_USER@$MAIL_DOMAIN" ||
	    ! delivered "$MAIL_USER" "$tok"; then
		ko "6 fail open: a mail through the running haka was not delivered"
	fi
	topo_haka_stop
	if [ "$HAKA_RC" != 0 ]; then
		ko "6 fail open: haka exited $HAKA_RC on SIGTERM"
	fi
	if ! in_gw iptables -S FORWARD | grep -q 'queue-bypass'; then
		ko "6 fail open: the manual rules are gone"
	fi
	tok=$(token open-stopped)
	if ! send_mail "$tok" "carol@client.haka.test" "$MAIL_USER@$MAIL_DOMAIN"; then
		ko "6 fail open: haka stopped, swaks failed: $(tail -n 3 "$E2E_TMP/swaks-$tok.out" | tr '\n' ' ')"
	elif ! delivered "$MAIL_USER" "$tok"; then
		ko "6 fail open: haka stopped, the mail was not delivered"
	else
		ok "6 fail open: haka stopped (rules with --queue-bypass kept), mail delivered"
	fi
	gw_rules -D --queue-bypass
}

t_fail_closed() {
	local tok conf=$E2E_TMP/haka-manual-closed.conf out
	topo_haka_conf "$conf" "$RULES" closed manual
	if ! gw_rules -A ""; then
		ko "6 fail closed: cannot install the iptables rules"
		return
	fi
	if ! topo_haka_start "$conf"; then
		ko "6 fail closed: haka did not start"
		gw_rules -D ""
		return
	fi
	tok=$(token closed-running)
	if ! send_mail "$tok" "dave@client.haka.test" "$MAIL_USER@$MAIL_DOMAIN" ||
	    ! delivered "$MAIL_USER" "$tok"; then
		ko "6 fail closed: a mail through the running haka was not delivered"
	fi
	topo_haka_stop
	[ "$HAKA_RC" = 0 ] || ko "6 fail closed: haka exited $HAKA_RC on SIGTERM"
	tok=$(token closed-stopped)
	out=$E2E_TMP/swaks-$tok.out
	if send_mail "$tok" "dave@client.haka.test" "$MAIL_USER@$MAIL_DOMAIN" \
	    --timeout 5; then
		ko "6 fail closed: haka stopped, swaks succeeded"
	elif grep -q '^<- *220' "$out"; then
		ko "6 fail closed: haka stopped, the server answered: $(grep '^<-' "$out" | head -n 1)"
	elif delivered "$MAIL_USER" "$tok" 2; then
		ko "6 fail closed: haka stopped, the mail was delivered"
	else
		ok "6 fail closed: haka stopped, the connection fails ($(grep -m1 -iE 'timed? ?out|error|refused' "$out" | tr -s ' ' | cut -c1-60))"
	fi
	gw_rules -D ""
}

# 7. hakactl and SIGHUP with a broken rule file
t_hakactl() {
	local conf=$E2E_TMP/haka-ctl.conf rules=$E2E_TMP/ctl_rules.lua
	local tok out packets before kept_before status_line
	cp "$RULES" "$rules"
	topo_haka_conf "$conf" "$rules" open auto
	if ! topo_haka_start "$conf"; then
		ko "7 hakactl: haka did not start"
		return
	fi
	tok=$(token ctl)
	send_mail "$tok" "erin@client.haka.test" "$MAIL_USER@$MAIL_DOMAIN"
	delivered "$MAIL_USER" "$tok" || ko "7 hakactl: the clean mail was not delivered"
	out=$(hakactl_ status 2>&1)
	packets=$(echo "$out" | awk '$1 == "packets" {print $2}')
	if [ -n "$packets" ] && [ "$packets" -gt 0 ] &&
	    echo "$out" | grep -q '^capture nfqueue'; then
		ok "7 hakactl status: packets $packets"
	else
		ko "7 hakactl status: $(echo "$out" | tr '\n' ' ')"
	fi
	out=$(hakactl_ stats 2>&1)
	if [ $? = 0 ] && echo "$out" | grep -q '^anomaly\.' &&
	    echo "$out" | grep -q '^queue_received [1-9]'; then
		ok "7 hakactl stats: $(echo "$out" | grep -c '^anomaly\.') anomaly lines"
	else
		ko "7 hakactl stats: $(echo "$out" | head -n 5 | tr '\n' ' ')"
	fi
	# SMTP memory: held by an open session, all given back once it ends.
	local raw=$E2E_TMP/raw-ctl-mem.out rpid mem_open mem_after
	ip netns exec "$CLI" $RAW --timeout 8 "$SRV_IP" 25 \
	    '<' '>EHLO client.haka.test\r\n' '<' '=3' '>QUIT\r\n' '<' \
	    >"$raw" 2>&1 &
	rpid=$!
	sleep 1.5
	out=$(hakactl_ stats 2>&1)
	mem_open=$(echo "$out" | awk '$1 == "smtp_memory" {print $2}')
	status_line=$(hakactl_ status 2>&1 | grep '^memory rss')
	wait "$rpid"
	sleep 1
	mem_after=$(hakactl_ stats 2>&1 | awk '$1 == "smtp_memory" {print $2}')
	if ! grep -q '^RESULT OK' "$raw"; then
		ko "7 hakactl smtp_memory: the session failed: $(tail -n 1 "$raw")"
	elif [ -n "$mem_open" ] && [ "$mem_open" -gt 0 ] &&
	    [ "$mem_after" = 0 ] &&
	    echo "$out" | grep -q '^smtp_memcap [1-9]' &&
	    echo "$status_line" | grep -qE ', smtp [1-9][0-9]* kB$'; then
		ok "7 hakactl smtp_memory: $mem_open bytes with a session open, 0 after it ($status_line)"
	else
		ko "7 hakactl smtp_memory: open '$mem_open', after '$mem_after', status '$status_line'"
	fi
	out=$(hakactl_ reload 2>&1)
	if [ $? = 0 ] && echo "$out" | grep -q '^reloading' &&
	    wait_for "rules reloaded" "$HAKA_LOG" 5; then
		ok "7 hakactl reload: $out"
	else
		ko "7 hakactl reload: $out"
	fi
	# A broken rule file: SIGHUP keeps the old rules.
	printf 'local smtp = require("smtp")\nhaka.rule{\n  hook = smtp.events.command,\n  eval = function (flow, command\n}\n' >"$rules"
	kept_before=$(count "keeping the old rules" "$HAKA_LOG")
	kill -HUP "$HAKA_PID"
	local i
	for i in $(seq 50); do
		[ "$(count "keeping the old rules" "$HAKA_LOG")" -gt "$kept_before" ] && break
		sleep 0.1
	done
	if [ "$(count "keeping the old rules" "$HAKA_LOG")" -le "$kept_before" ]; then
		ko "7 SIGHUP with a broken rule file: the log does not say it kept the old rules: $(tail -n 3 "$HAKA_LOG" | tr '\n' ' ')"
	elif ! kill -0 "$HAKA_PID" 2>/dev/null; then
		ko "7 SIGHUP with a broken rule file: haka exited"
	else
		before=$(alerts_forbidden)
		tok=$(token ctl-forbidden)
		if send_mail "$tok" "x@suspicious.org" "$MAIL_USER@$MAIL_DOMAIN" --timeout 5; then
			ko "7 SIGHUP with a broken rule file: a mail from suspicious.org passed"
		elif ! pf_never_saw "suspicious.org"; then
			ko "7 SIGHUP with a broken rule file: Postfix saw suspicious.org"
		elif [ "$(alerts_forbidden)" -le "$before" ]; then
			ko "7 SIGHUP with a broken rule file: no alert"
		else
			ok "7 SIGHUP with a broken rule file: old rules kept ($(grep -F 'keeping the old rules' "$HAKA_LOG" | tail -n 1 | sed 's/.*has an error, //')), suspicious.org still blocked"
		fi
	fi
	# hakactl reload with the broken file: an error, old rules kept.
	out=$(hakactl_ reload 2>&1)
	if [ $? = 1 ] && echo "$out" | grep -q 'old rules keep running'; then
		ok "7 hakactl reload with a broken rule file refused"
	else
		ko "7 hakactl reload with a broken rule file: $out"
	fi
	out=$(hakactl_ stop 2>&1)
	if [ $? != 0 ] || ! echo "$out" | grep -q stopping; then
		ko "7 hakactl stop: $out"
		topo_haka_stop
	elif ! topo_haka_wait 10; then
		ko "7 hakactl stop: haka still running after 10 s"
		topo_haka_stop
	elif [ "$HAKA_RC" != 0 ]; then
		ko "7 hakactl stop: haka exited $HAKA_RC"
	elif in_gw iptables -S FORWARD | grep -q NFQUEUE; then
		ko "7 hakactl stop: the iptables rules were not removed"
	else
		ok "7 hakactl stop: haka exited 0, its rules removed"
	fi
}

# 8. a bad haka.conf, a rule file with a syntax error
t_bad_start() {
	local conf=$E2E_TMP/haka-bad.conf bad=$E2E_TMP/bad_rules.lua good=$E2E_TMP/haka-good.conf
	local out rc line
	topo_haka_conf "$conf" "$RULES" open auto
	line=$(grep -n '^  pid_file:' "$conf" | cut -d: -f1)
	sed -i "${line}a\\  no_such_key: 1" "$conf"
	line=$((line + 1))
	out=$(timeout 20 ip netns exec "$GW" "$HAKA" -c "$conf" --no-daemon \
	    --pid-file "$E2E_TMP/bad.pid" --ctl-file "$E2E_TMP/bad.sock" 2>&1)
	rc=$?
	if [ $rc = 0 ] || [ $rc = 124 ]; then
		ko "8 bad haka.conf: haka exited $rc"
	elif ! echo "$out" | grep -qF "$conf:$line:"; then
		ko "8 bad haka.conf: exit $rc, message without $conf:$line: $out"
	else
		ok "8 bad haka.conf: exit $rc, $(echo "$out" | head -n 1)"
	fi
	printf -- '-- broken\nlocal smtp = require("smtp")\nhaka.rule{ hook = smtp.events.command,\n  eval = function (flow, command) if then end\n}\n' >"$bad"
	topo_haka_conf "$good" "$bad" open auto
	out=$(timeout 20 ip netns exec "$GW" "$HAKA" -c "$good" --no-daemon \
	    --pid-file "$E2E_TMP/bad.pid" --ctl-file "$E2E_TMP/bad.sock" 2>&1)
	rc=$?
	if [ $rc = 0 ] || [ $rc = 124 ]; then
		ko "8 rule file with a syntax error: haka exited $rc"
	elif ! echo "$out" | grep -qF "$bad:4:"; then
		ko "8 rule file with a syntax error: exit $rc, message without $bad:4: $out"
	else
		ok "8 rule file with a syntax error: exit $rc, $(echo "$out" | grep -F "$bad:4:" | head -n 1)"
	fi
	if in_gw iptables -S FORWARD | grep -q NFQUEUE; then
		ko "8 a failed start left iptables rules"
	fi
}

# --- daemon mode, privileges, log level, log rotation, passive capture ----------

# A process that exists and is not a zombie (pid 1 here may not reap).
alive() { [ -n "$1" ] && [ -r "/proc/$1/status" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }

# Wait up to $2 seconds (default 10) for process $1 to go.
wait_gone() {
	local i
	for i in $(seq $((${2:-10} * 10))); do
		alive "$1" || return 0
		sleep 0.1
	done
	return 1
}

# mail_ok NAME: a clean mail through haka is delivered. WHY on failure.
WHY=
mail_ok() {
	local tok
	tok=$(token "$1")
	if ! send_mail "$tok" "frank@client.haka.test" "$MAIL_USER@$MAIL_DOMAIN"; then
		WHY="swaks failed: $(tail -n 3 "$E2E_TMP/swaks-$tok.out" | tr '\n' ' ')"
		return 1
	elif ! delivered "$MAIL_USER" "$tok"; then
		WHY="$tok not in /var/mail/$MAIL_USER"
		return 1
	fi
}

# mail_blocked NAME: a mail from suspicious.org through an inline haka is
# blocked (swaks fails, nothing delivered, Postfix never saw the sender)
# and alerted on. WHY on failure.
mail_blocked() {
	local tok before i
	tok=$(token "$1")
	before=$(alerts_forbidden)
	if send_mail "$tok" "x@suspicious.org" "$MAIL_USER@$MAIL_DOMAIN" \
	    --timeout 3; then
		WHY="swaks succeeded"
		return 1
	elif grep -qF "$tok" "/var/mail/$MAIL_USER" 2>/dev/null; then
		WHY="the mail was delivered"
		return 1
	elif ! pf_never_saw "suspicious.org"; then
		WHY="Postfix saw the sender"
		return 1
	fi
	for i in $(seq 20); do
		[ "$(alerts_forbidden)" -gt "$before" ] && return 0
		sleep 0.1
	done
	WHY="no 'forbidden mail domain' alert in $HAKA_ALERTS"
	return 1
}

# conn_ok: one short SMTP session (EHLO, QUIT) from cli.
conn_ok() {
	ip netns exec "$CLI" $RAW --timeout 5 --pause 0 "$SRV_IP" 25 \
	    '<' '>EHLO client.haka.test\r\n' '<' '>QUIT\r\n' '<' \
	    >>"$E2E_TMP/raw-conn.out" 2>&1
}

# Bytes in a file (0 when missing).
fsize() { stat -c %s "$1" 2>/dev/null || echo 0; }

# Lines of FILE from byte OFFSET on.
from_offset() { tail -c +$(($2 + 1)) "$1" 2>/dev/null; }

# 11. hakactl loglevel debug, then info: debug lines only in between.
t_loglevel() {
	local log=$HAKA_LOG off0 off1 out rc i n
	off0=$(fsize "$log")
	out=$(hakactl_ loglevel debug 2>&1)
	rc=$?
	if [ $rc != 0 ]; then
		ko "11 hakactl loglevel debug: exit $rc: $out"
		return
	fi
	conn_ok || ko "11 loglevel: the SMTP session at debug level failed"
	n=0
	for i in $(seq 30); do
		n=$(from_offset "$log" "$off0" | grep -c '^debug conn: *opening connection')
		[ "$n" -gt 0 ] && break
		sleep 0.1
	done
	out=$(hakactl_ loglevel info 2>&1)
	rc=$?
	off1=$(fsize "$log")
	if [ $rc != 0 ]; then
		ko "11 hakactl loglevel info: exit $rc: $out"
		hakactl_ loglevel info >/dev/null 2>&1
		return
	fi
	conn_ok || ko "11 loglevel: the SMTP session back at info level failed"
	sleep 0.5
	if head -c "$off0" "$log" | grep -q '^debug'; then
		ko "11 loglevel: debug lines before 'loglevel debug': $(head -c "$off0" "$log" | grep -m1 '^debug')"
	elif [ "$n" = 0 ]; then
		ko "11 loglevel debug: no 'debug conn: opening connection' line for a connection: $(from_offset "$log" "$off0" | head -n 3 | tr '\n' ' ')"
	elif from_offset "$log" "$off1" | grep -q '^debug'; then
		ko "11 loglevel info: debug lines after it: $(from_offset "$log" "$off1" | grep -m1 '^debug')"
	else
		ok "11 hakactl loglevel debug/info: $(from_offset "$log" "$off0" | head -c $((off1 - off0)) | grep -c '^debug') debug lines in between ($n 'debug conn:'), none before or after"
	fi
}

# 12. SIGHUP reopens the log file moved away.
t_sighup_log() {
	local pid=$1 log=$HAKA_LOG moved=$HAKA_LOG.1 old_size i n=0
	if ! mv "$log" "$moved"; then
		ko "12 SIGHUP: cannot move $log"
		return
	fi
	old_size=$(fsize "$moved")
	kill -HUP "$pid"
	for i in $(seq 50); do
		grep -q 'rules reloaded' "$log" 2>/dev/null && break
		sleep 0.1
	done
	if [ ! -f "$log" ]; then
		ko "12 SIGHUP: $log not created again"
		return
	fi
	hakactl_ loglevel info,conn=debug >/dev/null 2>&1 ||
	    ko "12 SIGHUP: hakactl loglevel info,conn=debug failed"
	conn_ok || ko "12 SIGHUP: the SMTP session failed"
	for i in $(seq 30); do
		n=$(grep -c '^debug conn: *opening connection' "$log")
		[ "$n" -gt 0 ] && break
		sleep 0.1
	done
	# "LEVEL" alone keeps the section overrides: conn=default drops it.
	hakactl_ loglevel info,conn=default >/dev/null 2>&1
	if ! grep -q 'rules reloaded' "$log"; then
		ko "12 SIGHUP: the new $log lacks 'rules reloaded': $(head -n 3 "$log" | tr '\n' ' ')"
	elif [ "$n" = 0 ]; then
		ko "12 SIGHUP: no line for the new connection in the new $log: $(tr '\n' ' ' <"$log")"
	elif from_offset "$moved" "$old_size" | grep -q 'connection'; then
		ko "12 SIGHUP: the moved file still receives lines: $(from_offset "$moved" "$old_size" | tr '\n' ' ')"
	elif ! grep -q 'SIGHUP: reopening files' "$moved"; then
		ko "12 SIGHUP: the moved file lacks the SIGHUP line"
	else
		ok "12 SIGHUP reopens the log file moved away: new file, $(wc -l <"$log") lines, $n for the new connection"
	fi
}

# 9, 11, 12. haka as a daemon (no --no-daemon).
t_daemon() {
	local conf=$E2E_TMP/haka-daemon.conf pidf=$E2E_TMP/daemon.pid
	local dout=$E2E_TMP/daemon.out t0 ms rc pid out bad=
	HAKA_CTL=$E2E_TMP/daemon.sock
	HAKA_LOG=$E2E_TMP/daemon.log
	HAKA_ALERTS=$E2E_TMP/alerts.log
	topo_haka_conf "$conf" "$RULES" open auto
	sed -i "s|^  output: .*|  output: $HAKA_LOG|" "$conf"
	t0=$(date +%s%N)
	timeout 20 ip netns exec "$GW" "$HAKA" -c "$conf" --pid-file "$pidf" \
	    --ctl-file "$HAKA_CTL" >"$dout" 2>&1
	rc=$?
	ms=$((($(date +%s%N) - t0) / 1000000))
	pid=$(cat "$pidf" 2>/dev/null)
	if [ $rc != 0 ]; then
		ko "9 daemon: haka exited $rc: $(tr '\n' ' ' <"$dout") $(tail -n 3 "$HAKA_LOG" 2>/dev/null | tr '\n' ' ')"
		bad=1
	elif [ "$ms" -gt 5000 ]; then
		ko "9 daemon: haka took $ms ms to return"
		bad=1
	elif ! alive "$pid"; then
		ko "9 daemon: the pid file $pidf names no live process: '$pid'"
		bad=1
	elif [ "$(readlink "/proc/$pid/exe")" != "$HAKA" ] ||
	    [ "$(ip netns identify "$pid")" != "$GW" ]; then
		ko "9 daemon: pid $pid is $(readlink "/proc/$pid/exe") in netns '$(ip netns identify "$pid")'"
		bad=1
	elif ! out=$(hakactl_ status 2>&1); then
		ko "9 daemon: haka returned but its control socket does not answer: $out"
		bad=1
	else
		ok "9 daemon: haka returned 0 in $ms ms, pid file names haka (pid $pid, parent $(awk '$1 == "PPid:" {print $2}' "/proc/$pid/status")), control socket answers"
	fi
	if [ -z "$bad" ]; then
		if ! mail_ok daemon-clean; then
			ko "9 daemon: clean mail: $WHY"
		elif ! mail_blocked daemon-forbidden; then
			ko "9 daemon: suspicious.org: $WHY"
		else
			ok "9 daemon: a clean mail delivered, suspicious.org blocked"
		fi
		out=$(timeout 20 ip netns exec "$GW" "$HAKA" -c "$conf" \
		    --pid-file "$pidf" --ctl-file "$E2E_TMP/daemon2.sock" 2>&1)
		rc=$?
		if [ $rc != 5 ]; then
			ko "9 daemon: a second haka with the same pid file exited $rc: $out"
		elif ! echo "$out" | grep -q "already running (pid $pid"; then
			ko "9 daemon: a second haka: exit 5 without the message: $out"
		elif ! alive "$pid" || ! hakactl_ status >/dev/null 2>&1; then
			ko "9 daemon: the first haka is gone after the second one"
		else
			ok "9 daemon: a second haka with the same pid file refused (exit 5: $out)"
		fi
		t_loglevel
		t_sighup_log "$pid"
	fi
	if alive "$pid"; then
		out=$(hakactl_ stop 2>&1)
		rc=$?
		if [ $rc != 0 ] || ! echo "$out" | grep -q stopping; then
			ko "9 daemon: hakactl stop: exit $rc: $out"
		elif ! wait_gone "$pid" 10; then
			ko "9 daemon: haka still running 10 s after hakactl stop"
		elif [ -e "$pidf" ]; then
			ko "9 daemon: hakactl stop: the pid file $pidf stays"
		elif in_gw iptables -S FORWARD | grep -q NFQUEUE; then
			ko "9 daemon: hakactl stop: the iptables rules stay"
		else
			ok "9 daemon: hakactl stop: haka gone, pid file and rules removed"
		fi
	fi
	if alive "$pid"; then
		kill -TERM "$pid"
		wait_gone "$pid" 10 || kill -KILL "$pid"
	fi
	gw_flush
	HAKA_LOG=$E2E_TMP/haka.log
}

# 10. general.user: haka runs as an unprivileged user.
HAKA_USER=hakad
t_user() {
	local conf=$E2E_TMP/haka-user.conf uid st out caps cleaner i
	if ! id "$HAKA_USER" >/dev/null 2>&1; then
		useradd --system -M -d /nonexistent -s /usr/sbin/nologin \
		    "$HAKA_USER" || {
			ko "10 privilege drop: cannot create user $HAKA_USER"
			return
		}
		echo "# created user $HAKA_USER"
	fi
	uid=$(id -u "$HAKA_USER")
	topo_haka_conf "$conf" "$RULES" open auto
	sed -i "s|^  pid_file: .*|&\n  user: $HAKA_USER|" "$conf"
	if ! topo_haka_start "$conf"; then
		ko "10 privilege drop: haka did not start: $(tail -n 3 "$HAKA_OUT" "$HAKA_LOG" | tr '\n' ' ')"
		gw_flush
		return
	fi
	st=$(awk '$1 == "Uid:" {print $2, $3, $4, $5}' "/proc/$HAKA_PID/status")
	caps=$(awk '$1 == "CapEff:" {print $2}' "/proc/$HAKA_PID/status")
	if [ "$st" != "$uid $uid $uid $uid" ]; then
		ko "10 privilege drop: Uid $st, expected $uid ($HAKA_USER)"
	elif [ "$caps" != 0000000000003000 ]; then
		ko "10 privilege drop: CapEff $caps, expected CAP_NET_ADMIN and CAP_NET_RAW (0000000000003000)"
	else
		ok "10 privilege drop: haka runs as $HAKA_USER (Uid $st, CapEff $caps)"
	fi
	if ! mail_ok user-clean; then
		ko "10 privilege drop: clean mail: $WHY"
	elif ! mail_blocked user-forbidden; then
		ko "10 privilege drop: suspicious.org: $WHY"
	else
		ok "10 privilege drop: a clean mail delivered, suspicious.org blocked"
	fi
	# The cleanup process: haka's child, root, CAP_DAC_OVERRIDE only.
	cleaner=$(ps -o pid=,uid=,comm= --ppid "$HAKA_PID" |
	    awk '$3 == "haka-cleanup" {print $1, $2}')
	if [ -z "$cleaner" ] || [ "${cleaner#* }" != 0 ]; then
		ko "10 privilege drop: no root haka-cleanup child of haka: $(ps -o pid=,uid=,comm= --ppid "$HAKA_PID" | tr '\n' ' ')"
	else
		caps=$(awk '$1 == "CapEff:" {print $2}' "/proc/${cleaner% *}/status")
		if [ "$caps" != 0000000000000002 ]; then
			ko "10 privilege drop: haka-cleanup CapEff $caps, expected CAP_DAC_OVERRIDE only (0000000000000002)"
		else
			cleaner="pid ${cleaner% *}, uid 0, CapEff $caps"
			ok "10 privilege drop: haka-cleanup child runs as root with CAP_DAC_OVERRIDE only ($cleaner)"
		fi
	fi
	out=$(hakactl_ status 2>&1)
	if [ $? = 0 ] && echo "$out" | grep -q '^packets [1-9]'; then
		ok "10 privilege drop: hakactl status (root): $(echo "$out" | grep '^packets')"
	else
		ko "10 privilege drop: hakactl status: $out"
	fi
	topo_haka_stop
	[ "$HAKA_RC" = 0 ] || ko "10 privilege drop: haka exited $HAKA_RC on SIGTERM"
	if in_gw iptables -S FORWARD | grep -q NFQUEUE; then
		ko "10 privilege drop: the iptables rules stay after SIGTERM ($(grep -F 'cannot remove the iptables rules' "$HAKA_LOG" | tail -n 1 | sed 's/.*: exit /exit /'))"
	else
		ok "10 privilege drop: iptables rules removed at stop (ambient CAP_NET_ADMIN)"
	fi
	# Both were created as root in a directory $HAKA_USER cannot write:
	# the cleanup process, still root, removes them.
	if [ -e "$E2E_TMP/haka.pid" ] || [ -e "$E2E_TMP/haka-ctl.sock" ]; then
		ko "10 privilege drop: the pid file or the control socket stays after SIGTERM ($(ls "$E2E_TMP/haka.pid" "$E2E_TMP/haka-ctl.sock" 2>/dev/null | xargs -n1 basename | tr '\n' ' '))"
	else
		ok "10 privilege drop: pid file and control socket removed at stop by the cleanup process ($cleaner)"
	fi
	gw_flush
	# Killed outright: the cleanup process sees the pipe close.
	if ! topo_haka_start "$conf"; then
		ko "10 privilege drop: haka did not start again: $(tail -n 3 "$HAKA_OUT" "$HAKA_LOG" | tr '\n' ' ')"
	else
		kill -KILL "$HAKA_PID"
		topo_haka_wait 5
		for i in $(seq 20); do
			[ -e "$E2E_TMP/haka.pid" ] ||
			    [ -e "$E2E_TMP/haka-ctl.sock" ] || break
			sleep 0.1
		done
		if [ -e "$E2E_TMP/haka.pid" ] || [ -e "$E2E_TMP/haka-ctl.sock" ]; then
			ko "10 privilege drop: after SIGKILL, the pid file or the control socket stays ($(ls "$E2E_TMP/haka.pid" "$E2E_TMP/haka-ctl.sock" 2>/dev/null | xargs -n1 basename | tr '\n' ' '))"
		else
			ok "10 privilege drop: after SIGKILL, pid file and control socket removed by the cleanup process"
		fi
	fi
	gw_flush
	rm -f "$E2E_TMP/haka.pid" "$E2E_TMP/haka-ctl.sock"
}

# 13. passive capture (pcap on the gateway's server side): alerts only.
t_passive() {
	local conf=$E2E_TMP/haka-pcap.conf tok before warn out
	cat >"$conf" <<EOC
general:
  rules: $RULES
  pid_file: $E2E_TMP/haka.pid
capture:
  mode: pcap
  pcap:
    interfaces: [e2g1]
log:
  level: info
  output: $E2E_TMP/haka.log
alerts:
  - type: file
    path: $E2E_TMP/alerts.log
    format: oneline
control:
  socket: $E2E_TMP/haka-ctl.sock
EOC
	warn=$(count "drop and reset have no effect" "$E2E_TMP/haka.log")
	# The client sockets of the sessions blocked before (orphans still
	# retransmitting the dropped MAIL command) would reach Postfix under
	# the passive haka, be picked up mid-stream and raise the same alert.
	in_cli ss -K dport = :25 >/dev/null 2>&1
	sleep 0.2
	if ! topo_haka_start "$conf"; then
		ko "13 passive capture: haka did not start: $(tail -n 3 "$HAKA_OUT" "$HAKA_LOG" | tr '\n' ' ')"
		return
	fi
	if [ "$(count "drop and reset have no effect" "$HAKA_LOG")" -le "$warn" ]; then
		ko "13 passive capture: no start warning about drop and reset"
	else
		ok "13 passive capture: $(grep -F 'drop and reset have no effect' "$HAKA_LOG" | tail -n 1 | tr -s ' ')"
	fi
	tok=$(token passive)
	before=$(alerts_forbidden)
	if ! send_mail "$tok" "x@suspicious.org" "$MAIL_USER@$MAIL_DOMAIN"; then
		ko "13 passive capture: swaks failed: $(tail -n 3 "$E2E_TMP/swaks-$tok.out" | tr '\n' ' ')"
	elif ! delivered "$MAIL_USER" "$tok"; then
		ko "13 passive capture: the suspicious.org mail was not delivered"
	elif ! wait_alert_after "$before"; then
		ko "13 passive capture: no 'forbidden mail domain' alert"
	else
		out=$(hakactl_ status 2>&1 | grep '^capture')
		ok "13 passive capture: suspicious.org delivered, alert written ($out)"
	fi
	topo_haka_stop
	[ "$HAKA_RC" = 0 ] || ko "13 passive capture: haka exited $HAKA_RC on SIGTERM"
}

wait_alert_after() {
	local i
	for i in $(seq 30); do
		[ "$(alerts_forbidden)" -gt "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# --- main ------------------------------------------------------------------------

topo_setup || exit 2
make_rules || { echo "cannot write the rule files" >&2; exit 2; }
echo "# namespaces $CLI $GW $SRV, temporary directory $E2E_TMP"

# Before haka: the test bed delivers mail.
tok=$(token nohaka)
if ! send_mail "$tok" "alice@client.haka.test" "$MAIL_USER@$MAIL_DOMAIN" ||
    ! delivered "$MAIL_USER" "$tok"; then
	echo "the test bed does not deliver mail without haka:" >&2
	cat "$E2E_TMP/swaks-$tok.out" >&2
	tail -n 20 "$PF_LOG" >&2
	exit 2
fi

# 1, 2, 3, 5: the spam filter, iptables auto, fail open.
topo_haka_conf "$E2E_TMP/haka.conf" "$RULES" open auto
if topo_haka_start "$E2E_TMP/haka.conf"; then
	if in_gw iptables -S FORWARD | grep -q 'NFQUEUE'; then
		t_clean
		t_forbidden
		t_split
		t_pipeline
	else
		ko "haka installed no iptables rule: $(in_gw iptables -S FORWARD | tr '\n' ' ')"
	fi
	topo_haka_stop || ko "haka did not stop on SIGTERM"
	[ "$HAKA_RC" = 0 ] || ko "haka exited $HAKA_RC on SIGTERM"
	if in_gw iptables -S FORWARD | grep -q NFQUEUE; then
		ko "haka left its iptables rules after SIGTERM"
		gw_flush
	fi
else
	ko "1-3,5: haka did not start: $(tail -n 5 "$HAKA_OUT" | tr '\n' ' ')"
fi

# 3b: a legitimate sender pausing 1 s inside a command; 3c: stop under traffic.
topo_haka_conf "$E2E_TMP/haka-slow.conf" "$RULES" open auto
if topo_haka_start "$E2E_TMP/haka-slow.conf"; then
	t_split_slow
	t_split 1 3d
	topo_haka_stop
	[ "$HAKA_RC" = 0 ] || ko "3b: haka exited $HAKA_RC on SIGTERM"
	gw_flush
else
	ko "3b: haka did not start"
fi
t_stop_busy

# 4: a resetting rule.
topo_haka_conf "$E2E_TMP/haka-reset.conf" "$RESET_RULES" open auto
if topo_haka_start "$E2E_TMP/haka-reset.conf"; then
	t_reset
	topo_haka_stop
	[ "$HAKA_RC" = 0 ] || ko "4 reset: haka exited $HAKA_RC on SIGTERM"
	gw_flush
else
	ko "4 reset: haka did not start"
fi

# 6: fail open, fail closed.
t_fail_open
t_fail_closed

# 7: hakactl, SIGHUP.
t_hakactl

# 8: bad configuration and rules.
t_bad_start

# 9, 11, 12: daemon mode, hakactl loglevel, SIGHUP and the log file.
t_daemon

# 10: privilege drop.
t_user

# 13: passive capture, last: Postfix sees suspicious.org.
t_passive

echo "# $(($(date +%s) - START)) s"
echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
