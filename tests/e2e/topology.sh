# tests/e2e/topology.sh: bash library of the end-to-end tests (sourced by
# e2e_haka.sh, and by nfq_test.sh for the network part only). Needs root,
# iproute2, iptables (nft backend), ethtool, Postfix and swaks (the network
# part: root, iproute2 and ethtool).
#
# Three network namespaces with a random suffix:
#
#   cli 10.251.1.2 --- 10.251.1.1 gw 10.251.2.1 --- 10.251.2.2 srv
#       (e2c0)           (e2g0)        (e2g1)          (e2s0)
#
# gw forwards and runs haka; srv runs a private Postfix instance (its own
# configuration directory, queue and data directories in the test's
# temporary directory: /etc/postfix is neither read for the instance nor
# changed) that delivers mail.haka.test to local users in /var/mail.
# Traffic goes only to these namespaces. topo_teardown (installed as an
# EXIT trap by topo_setup) stops haka and Postfix, kills whatever is left
# in the namespaces and deletes them.
#
# Variables set by topo_setup: E2E_TMP (temporary directory), CLI, GW, SRV
# (namespace names), SRV_IP, PF_DIR (Postfix's configuration directory),
# PF_LOG (Postfix's log file), MAIL_DOMAIN, MAIL_USER, MAIL_USER2.
# Set E2E_KEEP=1 to keep E2E_TMP after the run.

E2E_SUF=$(printf '%04x%04x' $RANDOM $RANDOM)
CLI=e2ecli-$E2E_SUF
GW=e2egw-$E2E_SUF
SRV=e2esrv-$E2E_SUF
CLI_IP=10.251.1.2
GW_CLI_IP=10.251.1.1
GW_SRV_IP=10.251.2.1
SRV_IP=10.251.2.2
MAIL_DOMAIN=mail.haka.test
MAIL_USER=hakatest
MAIL_USER2=hakatest2
PF_LOG=/var/log/haka-e2e-postfix-$E2E_SUF.log
E2E_TMP=
PF_DIR=
HAKA_PID=
HAKA_RC=
HAKA_CTL=
HAKA_LOG=
HAKA_ALERTS=
HAKA_OUT=

# Results: the caller sets PASS=0 and FAIL=0.
ok() {
	PASS=$((PASS + 1))
	echo "ok   $*"
}

ko() {
	FAIL=$((FAIL + 1))
	echo "FAIL $*"
}

in_cli() { ip netns exec "$CLI" "$@"; }
in_gw() { ip netns exec "$GW" "$@"; }
in_srv() { ip netns exec "$SRV" "$@"; }

topo_log() { echo "# $*"; }

# --- network -----------------------------------------------------------------

topo_net_up() {
	ip netns add "$CLI" && ip netns add "$GW" && ip netns add "$SRV" &&
	ip link add e2c0 netns "$CLI" type veth peer name e2g0 netns "$GW" &&
	ip link add e2g1 netns "$GW" type veth peer name e2s0 netns "$SRV" &&
	ip -n "$CLI" addr add $CLI_IP/24 dev e2c0 &&
	ip -n "$GW" addr add $GW_CLI_IP/24 dev e2g0 &&
	ip -n "$GW" addr add $GW_SRV_IP/24 dev e2g1 &&
	ip -n "$SRV" addr add $SRV_IP/24 dev e2s0 || return 1
	local ns dev
	for ns in "$CLI" "$GW" "$SRV"; do
		ip -n "$ns" link set lo up || return 1
	done
	for dev in "$CLI e2c0" "$GW e2g0" "$GW e2g1" "$SRV e2s0"; do
		set -- $dev
		ip -n "$1" link set "$2" up &&
		ip netns exec "$1" ethtool -K "$2" tx off tso off gso off \
		    >/dev/null 2>&1 || return 1
	done
	ip -n "$CLI" route add default via $GW_CLI_IP &&
	ip -n "$SRV" route add default via $GW_SRV_IP &&
	in_gw sysctl -qw net.ipv4.ip_forward=1
}

# Kill whatever runs in the namespaces (ip netns del does not) and delete
# them.
topo_net_down() {
	local ns pids
	for ns in "$CLI" "$GW" "$SRV"; do
		pids=$(ip netns pids "$ns" 2>/dev/null)
		if [ -n "$pids" ]; then
			kill $pids 2>/dev/null
			sleep 0.3
			pids=$(ip netns pids "$ns" 2>/dev/null)
			[ -n "$pids" ] && kill -9 $pids 2>/dev/null
		fi
		ip netns del "$ns" 2>/dev/null
	done
	return 0
}

# --- Postfix -----------------------------------------------------------------

topo_user() {
	if ! id "$1" >/dev/null 2>&1; then
		useradd -M -d /nonexistent -s /usr/sbin/nologin "$1" || return 1
		topo_log "created user $1"
	fi
}

# A private instance: configuration, queue and data in $PF_DIR.
topo_postfix_up() {
	PF_DIR=$E2E_TMP/postfix
	mkdir -p "$PF_DIR/spool" "$PF_DIR/data" || return 1
	chmod 755 "$E2E_TMP" "$PF_DIR" "$PF_DIR/spool" || return 1
	chown postfix "$PF_DIR/data" || return 1
	cp /etc/postfix/main.cf /etc/postfix/master.cf "$PF_DIR/" || return 1
	postconf -c "$PF_DIR" -e \
	    "compatibility_level = 3.6" \
	    "queue_directory = $PF_DIR/spool" \
	    "data_directory = $PF_DIR/data" \
	    "myhostname = $MAIL_DOMAIN" \
	    "mydomain = haka.test" \
	    "myorigin = $MAIL_DOMAIN" \
	    "mydestination = $MAIL_DOMAIN, localhost" \
	    "mynetworks = 127.0.0.0/8" \
	    "relayhost =" \
	    "inet_interfaces = all" \
	    "inet_protocols = ipv4" \
	    "smtpd_banner = \$myhostname ESMTP haka-e2e" \
	    "maillog_file = $PF_LOG" \
	    "syslog_name = postfix-e2e" \
	    "alias_maps =" \
	    "alias_database =" \
	    "smtpd_peername_lookup = no" \
	    "smtp_host_lookup = native" \
	    "mail_spool_directory = /var/mail" \
	    "home_mailbox =" \
	    "mailbox_command =" \
	    "mailbox_size_limit = 0" \
	    "message_size_limit = 20480000" \
	    "smtpd_tls_security_level = none" \
	    "smtp_tls_security_level = none" \
	    "biff = no" || return 1
	# No chroot: the jail would lack /etc/services, resolv.conf...
	postconf -c "$PF_DIR" -F '*/*/chroot = n' || return 1
	topo_user "$MAIL_USER" && topo_user "$MAIL_USER2" || return 1
	: >"$PF_LOG"
	in_srv postfix -c "$PF_DIR" start >"$E2E_TMP/postfix-start.out" 2>&1 || {
		cat "$E2E_TMP/postfix-start.out"
		return 1
	}
	# Ready when port 25 answers.
	local i
	for i in $(seq 50); do
		if in_srv bash -c "exec 3<>/dev/tcp/$SRV_IP/25" 2>/dev/null; then
			return 0
		fi
		sleep 0.2
	done
	echo "Postfix does not listen on $SRV_IP:25" >&2
	return 1
}

topo_postfix_pid() {
	local f=$PF_DIR/spool/pid/master.pid
	[ -r "$f" ] && tr -d ' \n' <"$f"
}

topo_postfix_down() {
	[ -n "$PF_DIR" ] && [ -d "$PF_DIR/spool" ] || return 0
	local pid i
	pid=$(topo_postfix_pid)
	postfix -c "$PF_DIR" stop >/dev/null 2>&1
	# postfix stop returns before the master exits.
	if [ -n "$pid" ]; then
		for i in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null
	fi
}

# --- haka --------------------------------------------------------------------

# topo_haka_conf FILE RULES FAIL(open|closed) IPTABLES(auto|manual)
topo_haka_conf() {
	local file=$1 rules=$2 fail=$3 ipt=$4
	cat >"$file" <<EOF
# generated by tests/e2e/topology.sh
general:
  rules: $rules
  pid_file: $E2E_TMP/haka.pid
capture:
  mode: nfqueue
  nfqueue:
    queues: [0]
    iptables: $ipt
    chain: FORWARD
    port: 25
    fail: $fail
log:
  level: info
  output: $E2E_TMP/haka.log
alerts:
  - type: file
    path: $E2E_TMP/alerts.log
    format: oneline
control:
  socket: $E2E_TMP/haka-ctl.sock
EOF
}

# topo_haka_start CONF [haka options...]: haka in gw, in the foreground
# (in the background of this shell: HAKA_PID); waits until its control
# socket answers. Its standard output and error go to $HAKA_OUT.
topo_haka_start() {
	local conf=$1 i
	shift
	HAKA_CTL=$E2E_TMP/haka-ctl.sock
	HAKA_LOG=$E2E_TMP/haka.log
	HAKA_ALERTS=$E2E_TMP/alerts.log
	HAKA_OUT=$E2E_TMP/haka.out
	HAKA_RC=
	# ip netns exec execs haka: $! is haka's pid.
	ip netns exec "$GW" "$HAKA" -c "$conf" --no-daemon "$@" \
	    >>"$HAKA_OUT" 2>&1 &
	HAKA_PID=$!
	for i in $(seq 100); do
		if ! kill -0 "$HAKA_PID" 2>/dev/null; then
			wait "$HAKA_PID"
			HAKA_RC=$?
			HAKA_PID=
			echo "haka exited at start ($HAKA_RC):" >&2
			tail -n 20 "$HAKA_OUT" "$HAKA_LOG" >&2 2>/dev/null
			return 1
		fi
		if hakactl_ status >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	echo "haka does not answer on $HAKA_CTL" >&2
	return 1
}

hakactl_() { in_gw "$HAKACTL" --ctl-file "$HAKA_CTL" "$@"; }

# Wait for haka to exit (up to $1 seconds, default 10); HAKA_RC is its
# exit status. 1 if it is still running.
topo_haka_wait() {
	local t=${1:-10} i
	[ -n "$HAKA_PID" ] || return 0
	for i in $(seq $((t * 10))); do
		kill -0 "$HAKA_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$HAKA_PID" 2>/dev/null && return 1
	wait "$HAKA_PID"
	HAKA_RC=$?
	HAKA_PID=
	return 0
}

# SIGTERM, wait; SIGKILL if it does not stop.
topo_haka_stop() {
	[ -n "$HAKA_PID" ] || return 0
	kill -TERM "$HAKA_PID" 2>/dev/null
	if ! topo_haka_wait 10; then
		echo "haka did not stop on SIGTERM: SIGKILL" >&2
		kill -KILL "$HAKA_PID" 2>/dev/null
		topo_haka_wait 5
		return 1
	fi
	return 0
}

# --- setup and teardown ------------------------------------------------------

topo_teardown() {
	set +e
	topo_haka_stop >/dev/null 2>&1
	topo_postfix_down
	topo_net_down
	if [ -n "$E2E_TMP" ] && [ -d "$E2E_TMP" ]; then
		if [ -n "${E2E_KEEP:-}" ]; then
			cp "$PF_LOG" "$E2E_TMP/" 2>/dev/null
			echo "# kept $E2E_TMP"
		else
			rm -rf "$E2E_TMP"
		fi
	fi
	rm -f "$PF_LOG"
}

# topo_setup: namespaces, network, Postfix; installs the EXIT trap.
topo_setup() {
	E2E_TMP=$(mktemp -d /tmp/haka-e2e.XXXXXX) || return 1
	trap topo_teardown EXIT
	trap 'exit 2' INT TERM HUP
	topo_net_up || { echo "cannot create the namespaces" >&2; return 1; }
	topo_postfix_up || { echo "cannot start Postfix" >&2; return 1; }
}
