#!/bin/sh
# Install the Debian 12 packages the build, the tests and the benchmarks
# need. Run as root on a fresh machine.
#   install-deps.sh        build, unit and capture tests, benchmarks
#   install-deps.sh --e2e  also the end-to-end tests' packages: Postfix
#                          (replaces another MTA!), swaks, iptables...
set -eu
export DEBIAN_FRONTEND=noninteractive
e2e=
[ "${1:-}" = --e2e ] && e2e=1
pkgs="build-essential cmake pkg-config git ca-certificates
	liblua5.3-dev lua5.3 libpcap-dev libnetfilter-queue-dev
	libpcre2-dev libyaml-dev
	clang llvm libclang-rt-dev clang-format
	tcpdump python3"
if [ -n "$e2e" ]; then
	# Postfix asks questions at install time: answer them (local delivery).
	echo "postfix postfix/main_mailer_type select Local only" |
	    debconf-set-selections
	echo "postfix postfix/mailname string mail.haka.test" |
	    debconf-set-selections
	pkgs="$pkgs iproute2 iptables ethtool socat procps psmisc postfix swaks"
fi
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
echo "install-deps: done"
