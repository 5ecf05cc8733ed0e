#!/bin/bash
# hakapcap's (and, given, haka's) answers to bad input: a clear message and a non-zero exit
# (2 for bad arguments, 1 for an unreadable capture or a broken rule
# file, whose message names the file and the line).
set -u
hakapcap=$1 data=$2 haka=${3:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0 n=0

expect() { # expect NAME CODE PATTERN -- command...
	local name=$1 code=$2 pat=$3
	shift 4
	n=$((n + 1))
	out=$("$@" 2>&1)
	rc=$?
	if [ $rc -ne "$code" ] || ! grep -q -E -- "$pat" <<<"$out"; then
		echo "FAIL $name: exit $rc (want $code), output:"
		echo "$out" | head -5
		fail=$((fail + 1))
	else
		echo "ok   $name"
	fi
}

absent() { # absent NAME CODE PATTERN -- command...: exits CODE, PATTERN not in the output
	local name=$1 code=$2 pat=$3
	shift 4
	n=$((n + 1))
	out=$("$@" 2>&1)
	rc=$?
	if [ $rc -ne "$code" ] || grep -q -E -- "$pat" <<<"$out"; then
		echo "FAIL $name: exit $rc (want $code), or '$pat' found:"
		echo "$out" | grep -E -- "$pat" | head -5
		fail=$((fail + 1))
	else
		echo "ok   $name"
	fi
}

printf 'haka.rule{hook = require("protocol/tcp_connection").events.new_connection,\n  eval = function (flow, pkt) end\n' >"$tmp/syntax.lua"
printf 'local x = 1\nlocal y = undefined_thing + 1\n' >"$tmp/runtime.lua"
printf 'local t = require("protocol/tcp_connection")\n' >"$tmp/ok.lua"
head -c 1000 /dev/urandom >"$tmp/garbage.pcap"
cap=$data/doc__user__workshop__smtp.pcap

expect no-args 2 'Usage: hakapcap' -- "$hakapcap"
expect one-arg 2 'Usage: hakapcap' -- "$hakapcap" "$tmp/ok.lua"
expect bad-option 2 'Usage: hakapcap' -- "$hakapcap" --bogus "$tmp/ok.lua" "$cap"
expect bad-loglevel 2 'invalid logging level' -- "$hakapcap" -l nonsense "$tmp/ok.lua" "$cap"
expect bad-alert-format 2 'unknown alert format' -- "$hakapcap" --alert-format xml "$tmp/ok.lua" "$cap"
expect missing-capture 1 'no-such.pcap' -- "$hakapcap" "$tmp/ok.lua" "$tmp/no-such.pcap"
expect garbage-capture 1 'garbage.pcap' -- "$hakapcap" "$tmp/ok.lua" "$tmp/garbage.pcap"
expect syntax-error 1 'syntax.lua:[0-9]+:' -- "$hakapcap" "$tmp/syntax.lua" "$cap"
expect runtime-error 1 "runtime.lua:2: undefined global 'undefined_thing'" -- "$hakapcap" "$tmp/runtime.lua" "$cap"
expect missing-rules 1 'no-such.lua' -- "$hakapcap" "$tmp/no-such.lua" "$cap"
expect version 0 '^version [0-9.]+, arch [A-Za-z0-9_]+, lua 5\.3$' -- "$hakapcap" --version
expect good 0 'summary: packets 48' -- "$hakapcap" "$tmp/ok.lua" "$cap"
# Rules that keep memory up to --lua-memory, their pcall swallowing the
# refusal: the engine still makes the next events' arguments (packet
# proxies, command and reply tables, outside any protected call) and goes
# on to the end of the capture. It used to abort there with a Lua panic.
printf 'local tcp = require("protocol/tcp_connection")\nlocal smtp = require("smtp")\nsmtp.install_tcp_rule(25)\nlocal head = nil\nlocal function fill () while true do head = {head} end end\nlocal function hoard () pcall(fill) pcall(fill) end\nhaka.rule{on = tcp.events.receive_packet, eval = hoard}\nhaka.rule{on = smtp.events.command, eval = hoard}\nhaka.rule{on = smtp.events.response, eval = hoard}\n' >"$tmp/hoard.lua"
expect lua-memory-full 0 'summary: packets 48,' -- "$hakapcap" --lua-memory 8 "$tmp/hoard.lua" "$cap"
expect bad-smtp-limit 2 "smtp-limit max_line=100: value '100' out of range \\(512 to 1048576\\)" -- "$hakapcap" --smtp-limit max_line=100 "$tmp/ok.lua" "$cap"
# A capture whose link type the engine cannot decode (here the tutorial's
# with its header saying USER0, 147) would pass uninspected: it is refused,
# and a later file of such a type is skipped like an unreadable one.
{ head -c 20 "$cap"; printf '\223\000\000\000'; tail -c +25 "$cap"; } >"$tmp/user0.pcap"
expect unsupported-link 1 "user0.pcap: link type 147 is not supported" -- "$hakapcap" "$tmp/ok.lua" "$tmp/user0.pcap"
expect unsupported-link-later 0 "capture file .*user0.pcap, skipped: link type 147 is not supported.*capture errors 1" -- bash -c 'set -o pipefail; "$@" 2>&1 | tr "\n" " "' _ "$hakapcap" "$tmp/ok.lua" "$cap" "$tmp/user0.pcap"
# The result capture is opened before any packet is read: a path that
# cannot be written stops the run (it used to exit 0 without a result).
expect unwritable-output 1 "cannot write the result: $tmp/no-dir/out.pcap: No such file" -- "$hakapcap" -o "$tmp/no-dir/out.pcap" "$tmp/ok.lua" "$cap"

# Rules on SMTP events in a file that never gives a port to the dissector
# would never run: said at load.
printf 'local smtp = require("smtp")\nhaka.rule{on = smtp.events.command, eval = function () end}\n' >"$tmp/orphan.lua"
expect smtp-not-installed 0 'rules on SMTP events, but no connection gets the SMTP dissector' -- "$hakapcap" "$tmp/orphan.lua" "$cap"

# A rule error's message may carry traffic: besides a string
# (error-escaped, below), an object's __tostring and the error of a
# streamed rule (which runs in a coroutine of its own) are escaped too.
cat >"$tmp/errmsg.lua" <<'LUA'
local smtp = require("smtp")
smtp.install_tcp_rule(25)
haka.rule{on = smtp.events.command, eval = function (flow, cmd)
	if cmd.command == "RCPT" then
		error(setmetatable({}, {__tostring = function () return "object\nforged" end}))
	end
end}
haka.rule{on = smtp.events.mail_content, options = {streamed = true},
	eval = function (flow, iter) iter:wait(); error("streamed\nforged") end}
LUA
for what in object streamed; do
	expect "rule-error-escaped-$what" 0 "error lua: +([^ ]*errmsg.lua:[0-9]+: )?$what\\\\nforged\$" -- "$hakapcap" "$tmp/errmsg.lua" "$cap"
done
# An error object's __tostring is rule code: when it fails in turn, the
# error is still logged and counted (a streamed rule's used to be read
# outside any protected call, and the Lua panic aborted the engine).
cat >"$tmp/badtostring.lua" <<'LUA'
local smtp = require("smtp")
smtp.install_tcp_rule(25)
local bad = {__tostring = function () error("tostring fails") end}
local bad2 = {__tostring = function () error("streamed tostring fails") end}
haka.rule{on = smtp.events.command, eval = function (flow, cmd)
	if cmd.command == "RCPT" then error(setmetatable({}, bad)) end
end}
haka.rule{on = smtp.events.mail_content, options = {streamed = true},
	eval = function (flow, iter) iter:wait(); error(setmetatable({}, bad2)) end}
LUA
expect tostring-fails-streamed 0 'error lua: +[^ ]*badtostring.lua:4: streamed tostring fails' -- "$hakapcap" "$tmp/badtostring.lua" "$cap"
expect tostring-fails-counted 0 'rule errors 2,' -- "$hakapcap" "$tmp/badtostring.lua" "$cap"

# What a rule can reach of the objects the engine gives it cannot stop
# the engine: each of these aborted it (a Lua panic, exit 134) or hung it
# (no instruction budget). The mail of ndpi-smtp.pcap comes in several
# pieces, so that a streamed rule is resumed after it yielded.
mails=$data/../public/ndpi-smtp.pcap
# the streamed iterator's methods and state, fed outside any protected call
printf 'local smtp = require("smtp")\nsmtp.install_tcp_rule(25)\nhaka.rule{on = smtp.events.mail_content, options = {streamed = true},\n  eval = function (flow, it) it._push = function () error("broken _push") end; coroutine.yield() end}\n' >"$tmp/iter_push.lua"
expect iterator-method-replaced 0 'error lua: +[^ ]*iter_push.lua:4: broken _push' -- timeout 60 "$hakapcap" "$tmp/iter_push.lua" "$mails"
printf 'local smtp = require("smtp")\nsmtp.install_tcp_rule(25)\nhaka.rule{on = smtp.events.mail_content, options = {streamed = true},\n  eval = function (flow, it) it._push = function () while true do end end; coroutine.yield() end}\n' >"$tmp/iter_loop.lua"
expect iterator-method-loops 0 'error lua: +instruction budget exceeded' -- timeout 60 "$hakapcap" --lua-instructions 1000000 "$tmp/iter_loop.lua" "$mails"
# the shared metatables: of the command and reply tables, of the content
# (plain rule) and of the iterator: a __gc there would be set by the
# engine on its next object. getmetatable() gives copies now, and the
# iterator's methods are not its metatable (it.__index is nil): no rule
# fails, no finalizer runs.
printf 'local smtp = require("smtp")\nsmtp.install_tcp_rule(25)\nlocal function gc () error("finalizer") end\nhaka.rule{on = smtp.events.command, eval = function (flow, c) getmetatable(c).__gc = gc; for i = 1, 20000 do local _ = {i} end end}\nhaka.rule{on = smtp.events.response, eval = function (flow, r) getmetatable(r).__gc = gc; getmetatable(r.responses).__gc = gc end}\nhaka.rule{on = smtp.events.mail_content, eval = function (flow, d) getmetatable(d).__gc = gc end}\nhaka.rule{on = smtp.events.mail_content, options = {streamed = true}, eval = function (flow, it) getmetatable(it).__gc = gc; assert(it.__index == nil) end}\n' >"$tmp/shared_mt.lua"
expect shared-metatables 0 'verdicts: .*rule errors 0,' -- timeout 60 "$hakapcap" "$tmp/shared_mt.lua" "$data/../public/sv-fw135-smtp-multi-mail.pcap"
absent shared-metatables-no-finalizer 0 'finalizer|panic' -- timeout 60 "$hakapcap" "$tmp/shared_mt.lua" "$data/../public/sv-fw135-smtp-multi-mail.pcap"
# a streamed rule's coroutine, kept and resumed by another rule: budgeted
printf 'local tcpc = require("protocol/tcp_connection")\nlocal saved\nhaka.rule{on = tcpc.events.receive_data, options = {streamed = true},\n  eval = function (flow, it) saved = coroutine.running(); coroutine.yield(); while true do end end}\nhaka.rule{on = tcpc.events.receive_packet, eval = function ()\n  if saved and coroutine.status(saved) == "suspended" then local co = saved; saved = nil; coroutine.resume(co) end end}\n' >"$tmp/steal.lua"
expect stolen-coroutine-budgeted 0 'summary: packets' -- timeout 60 "$hakapcap" --lua-instructions 1000000 "$tmp/steal.lua" "$mails"
# an overrun in a coroutine that a streamed rule swallowed, then yielded
printf 'local smtp = require("smtp")\nsmtp.install_tcp_rule(25)\nhaka.rule{on = smtp.events.mail_content, options = {streamed = true},\n  eval = function (flow, it) pcall(coroutine.wrap(function () while true do end end)); coroutine.yield() end}\n' >"$tmp/overrun.lua"
expect swallowed-overrun-counted 0 'verdicts: .*rule errors 1,' -- timeout 60 "$hakapcap" --lua-instructions 100000 "$tmp/overrun.lua" "$mails"

# A policy criterion the engine does not apply is refused, not ignored
# (the policy would cover every client, not the one named).
printf 'haka.policy{on = haka.dissectors.tcp_connection.policies.next_dissector,\n  port = 25, srcip = "10.9.9.9",\n  action = haka.dissectors.smtp.install}\n' >"$tmp/policy.lua"
expect policy-criterion 1 "policy.lua:1: policy: criterion 'srcip' is not supported \\(only port\\)" -- "$hakapcap" "$tmp/policy.lua" "$cap"
# Registering a next-dissector policy logs it as lua/haka/policy.lua logs
# the others: with its name, or without one.
printf 'haka.policy{on = haka.dissectors.tcp_connection.policies.next_dissector,\n  port = 25, action = haka.dissectors.smtp.install}\nhaka.policy{name = "smtp", on = haka.dissectors.tcp_connection.policies.next_dissector,\n  port = 587, action = haka.dissectors.smtp.install}\n' >"$tmp/policy-log.lua"
expect policy-register-unnamed 0 "info +core: +register policy on 'tcp_connection next dissector'" -- "$hakapcap" "$tmp/policy-log.lua" "$cap"
expect policy-register-named 0 "info +core: +register policy 'smtp' on 'tcp_connection next dissector'" -- "$hakapcap" "$tmp/policy-log.lua" "$cap"
# haka.rule takes on, hook, eval, options and name: another key, a typo
# such as 'evel' included, is an error rather than a rule that never runs.
printf 'haka.rule{on = haka.events.started, evel = function () end}\n' >"$tmp/rulekey.lua"
expect rule-unexpected-field 1 "rulekey.lua:1: unexpected field 'evel' in rule" -- "$hakapcap" "$tmp/rulekey.lua" "$cap"

# An alert keeps 32 values of a list: the rest is not dropped silently.
printf 'local t = {}\nfor i = 1, 40 do t[i] = "10.0.0." .. i end\nhaka.rule{on = haka.events.started, eval = function () haka.alert{description = "x", sources = haka.alert.address(table.unpack(t))} end}\n' >"$tmp/alert-cut.lua"
expect alert-cut 0 "warn +lua: +haka.alert: field 'address' has 40 entries, only the first 32 are kept" -- "$hakapcap" "$tmp/alert-cut.lua" "$cap"
expect alert-cut-kept 0 "address: 10\.0\.0\.1, .*10\.0\.0\.32\b" -- "$hakapcap" "$tmp/alert-cut.lua" "$cap"
absent alert-cut-dropped 0 "10\.0\.0\.33" -- "$hakapcap" "$tmp/alert-cut.lua" "$cap"

# A rule error's message may carry traffic: its line breaks are escaped,
# so it cannot forge a log line.
printf 'haka.rule{on = haka.events.started, eval = function () error("bad\\nerror lua: forged") end}\n' >"$tmp/forge.lua"
expect error-escaped 0 'forge.lua:1: bad\\nerror lua: forged' -- "$hakapcap" "$tmp/forge.lua" "$cap"

# haka.events.started and exiting fire in hakapcap and in every worker of
# the daemon (here replaying the capture file: no privilege needed).
printf 'haka.rule{on = haka.events.started, eval = function () haka.log("STARTED fired") end}\nhaka.rule{on = haka.events.exiting, eval = function () haka.log("EXITING fired") end}\n' >"$tmp/life.lua"
expect hakapcap-started 0 'STARTED fired' -- "$hakapcap" "$tmp/life.lua" "$cap"
expect hakapcap-exiting 0 'EXITING fired' -- "$hakapcap" "$tmp/life.lua" "$cap"
if [ -n "${haka:-}" ]; then
	printf 'general:\n  rules: %s\n  pid_file: %s\ncapture:\n  mode: pcap\n  pcap:\n    file: %s\ncontrol:\n  socket: %s\n' \
		"$tmp/life.lua" "$tmp/haka.pid" "$cap" "$tmp/ctl.sock" >"$tmp/life.conf"
	expect haka-started 0 'STARTED fired' -- "$haka" -c "$tmp/life.conf" --no-daemon
	expect haka-exiting 0 'EXITING fired' -- "$haka" -c "$tmp/life.conf" --no-daemon
	# The section smtp of haka.conf reaches the dissector: the tutorial's
	# MAIL command (33 bytes, LF included) is over a command_line of 20.
	printf 'haka.rule{on = require("smtp").events.anomaly, eval = function (f, name) haka.log("SMTP ANOMALY %%s", name) end}\nrequire("smtp").install_tcp_rule(25)\n' >"$tmp/anom.lua"
	sed "s|$tmp/life.lua|$tmp/anom.lua|" "$tmp/life.conf" >"$tmp/limits.conf"
	printf 'smtp:\n  command_line: 20\n' >>"$tmp/limits.conf"
	expect haka-smtp-limits 0 'SMTP ANOMALY smtp_command_line_too_long' -- "$haka" -c "$tmp/limits.conf" --no-daemon
	# --opt too, at the edge: over 32, within 33.
	expect haka-smtp-opt 0 'SMTP ANOMALY smtp_command_line_too_long' -- "$haka" -c "$tmp/life.conf" --no-daemon --opt smtp:command_line=32 -r "$tmp/anom.lua"
	absent haka-smtp-opt-fits 0 'SMTP ANOMALY' -- "$haka" -c "$tmp/life.conf" --no-daemon --opt smtp:command_line=33 -r "$tmp/anom.lua"
	# The file is named once, and a directory is said to be one.
	printf '# nothing\n' >"$tmp/empty.conf"
	expect haka-empty-conf 1 "^haka: $tmp/empty.conf: general.rules is not set" -- "$haka" -c "$tmp/empty.conf" --no-daemon
	expect haka-conf-dir 1 "^haka: $tmp: Is a directory" -- "$haka" -c "$tmp" --no-daemon
	cp "$tmp/life.conf" "$tmp/bad-limit.conf"
	printf 'smtp:\n  max_line: 100\n' >>"$tmp/bad-limit.conf"
	expect haka-smtp-bad-limit 1 "bad-limit.conf:[0-9]+:[0-9]+: smtp.max_line: value '100' out of range \\(512 to 1048576\\)" -- "$haka" -c "$tmp/bad-limit.conf" --no-daemon
fi

echo "$((n - fail)) passed, $fail failed"
[ $fail -eq 0 ]
