#!/bin/sh
# Install every Debian 12 package the build, the tests (end-to-end ones
# included: Postfix, swaks, iptables in network namespaces) and the
# benchmarks need. Run as root on a fresh machine.
set -eu
export DEBIAN_FRONTEND=noninteractive
# Postfix asks questions at install time: answer them (local delivery).
echo "postfix postfix/main_mailer_type select Local only" | debconf-set-selections
echo "postfix postfix/mailname string mail.haka.test" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
	build-essential cmake pkg-config git ca-certificates \
	liblua5.3-dev lua5.3 libpcap-dev libnetfilter-queue-dev \
	libpcre2-dev libyaml-dev \
	clang llvm libclang-rt-dev clang-format \
	tcpdump python3 \
	iproute2 iptables ethtool socat procps psmisc \
	postfix swaks >/dev/null
echo "install-deps: done"
