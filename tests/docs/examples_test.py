#!/usr/bin/python3
"""The Lua examples of the reference pages work as written.

    examples_test.py BUILD_DIR SRC_DIR [-v]

docs/tutorial.md has a test of its own (tutorial_test.py). This one covers
the ```lua blocks of README.md and of every other page of docs/ (those of
rules.md, smtp.md and hakapcap.md today): every block, indented in a list
or not, must be listed in EXAMPLES below, by a line that only it
contains, and is either

- schematic (placeholders such as EVENT or 'low' | 'medium'), said why; or
- run: written to a rule file (with a prelude when the page shows a
  fragment that relies on an earlier block, such as `smtp`), run by
  hakapcap on a capture, and its effect checked: the log lines, alerts,
  drops and resets the example is there to show, from hakapcap's output and
  its summary (hakapcap runs with --no-pass-through and the conn section's
  debug log, so that which connection was dropped shows). Every run must
  also exit 0 with no rule error, no error line and no warning other than
  the example's own (section external).

Most examples run on tests/pcap/docs/examples.pcap (made by
tests/pcap/craft.py), which holds what they act on: a mail from
<spam@example.com>, a mail whose header has "X-Spam-Flag: YES", a telnet
connection, a SYN from 10.0.0.66 and a SYN+FIN packet.

docs/hakapcap.md's worked example is also checked: its ```lua block is the
file its command runs, and the command's standard output and error are the
blocks shown after it (timings and rates excepted).

A new ```lua block in these pages fails the test until it is listed here.
"""
import os
import re
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from doclib import FAILS, blocks, fail, matches, read


def pages(src):
    docs = sorted(f for f in os.listdir(os.path.join(src, "docs"))
                  if f.endswith(".md") and f != "tutorial.md")
    return ["docs/" + f for f in docs] + ["README.md"]

EXAMPLES_PCAP = "tests/pcap/docs/examples.pcap"
TUTORIAL_PCAP = "samples/smtp.pcap"
LONG_LINE_PCAP = "tests/data/public/sv-smtp-long-DATA-line.pcap"

SMTP_PRELUDE = "local smtp = require('smtp')\nsmtp.install_tcp_rule(25)\n"
# the connection whose mail has "X-Spam-Flag: YES"
SPAM_FLAG_DROPPED = r"dropping connection 10\.0\.0\.1:40001 -> "
LOG_COMMANDS = """
haka.rule{on = haka.dissectors.smtp.events.command,
	eval = function (flow, cmd) haka.log("command %s", cmd.command) end}
"""
# LOG_COMMANDS on the tutorial capture: its five commands, once each,
# and no connection stopped (its other connection, to port 80, is not
# SMTP: dissected, it would be dropped as an invalid client command)
SMTP_COMMANDS = (r"^info  external: command (HELO|MAIL|RCPT|DATA|QUIT)$", 5)
NOTHING_STOPPED = {"alerts": 0, "conn_dropped": 0, "dropped": 0}

# Each entry: page, key (a line of the block, stripped, that no other
# block of the page has), and either schematic=REASON or runs=[...], each
# run a dict:
#   pcap     the capture (from the source tree)
#   prelude  text put before the block (a fragment's context)
#   postlude text put after it (checks, or a rule that logs what it did)
#   part     (start, stop): run only the lines of the block from the line
#            that contains start to the one before the line that contains
#            stop (None: to the end)
#   wrap     (head, tail): put around the (part of the) block
#   expect   regular expressions that must each match a line of the output
#   absent   regular expressions that must match no line
#   count    (regular expression, n): it matches exactly n times
#   warn     a warning the example may give (regular expression)
#   summary  {name: number} from hakapcap's summary (see SUMMARY)
EXAMPLES = [
    dict(page="docs/rules.md", key="on = EVENT,            -- or hook = EVENT (same meaning)",
         schematic="EVENT stands for any event"),
    dict(page="docs/rules.md", key="local group = haka.rule_group{",
         runs=[dict(pcap=EXAMPLES_PCAP,
                    # the one rule returns true for port 80 only: final
                    # drops every other new connection (25, 23, and the
                    # SYN of 10.0.0.66)
                    expect=[r"dropping connection 10\.0\.0\.1:40002 -> "
                            r"10\.0\.0\.2:23$"],
                    absent=[r"dropping connection .*:80$"],
                    summary={"conn_dropped": 4})]),
    dict(page="docs/rules.md", key="local filter = haka.policy.new('dmz filter')",
         runs=[dict(pcap=TUTORIAL_PCAP,
                    # the description defaults to the policy's name (the
                    # one given to haka.policy.new), as in the original
                    expect=[r"^\tdescription = dmz filter$",
                            r"^\tseverity = medium$",
                            r"^\t\taddress: 192\.168\.10\.10$"],
                    # each of the 24 packets from 192.168.10.10 to
                    # 192.168.20.1 (the 4 ARP frames are not IPv4)
                    summary={"alerts": 24, "dropped": 24})]),
    dict(page="docs/rules.md", key="name = 'drop by default',",
         runs=[dict(pcap=EXAMPLES_PCAP,
                    # every new connection but the one to port 80 (the
                    # SYN+FIN); the alert's description is the policy's
                    # name, as in the original
                    expect=[r"^\tdescription = new connection$",
                            r"^\t\tservice: tcp/23$"],
                    absent=[r"dropping connection .*:80$"],
                    summary={"alerts": 4, "conn_dropped": 4})]),
    dict(page="docs/rules.md", key="on = haka.dissectors.tcp_connection.policies.next_dissector,",
         runs=[dict(pcap=TUTORIAL_PCAP, postlude=LOG_COMMANDS,
                    expect=[r"^info  external: command MAIL$"],
                    count=SMTP_COMMANDS, summary=NOTHING_STOPPED)]),
    dict(page="docs/rules.md", key="if pkt.src == '10.0.0.66' then pkt:drop() end",
         runs=[dict(pcap=EXAMPLES_PCAP,
                    expect=[r"^warn  external: SYN\+FIN from 10\.0\.0\.1$"],
                    # the SYN of 10.0.0.66 and the SYN+FIN
                    summary={"dropped": 2})]),
    dict(page="docs/rules.md", key="local internal = ipv4.network('192.168.0.0/16')",
         runs=[dict(pcap=EXAMPLES_PCAP,
                    expect=[r"^warn  external: mail from outside: 10\.0\.0\.1$",
                            r"^warn  external: mail from outside: 10\.0\.0\.66$"],
                    count=(r"mail from outside", 3)),
               dict(pcap=TUTORIAL_PCAP, absent=[r"mail from outside"])]),
    dict(page="docs/rules.md", key='haka.alert{ description = "telnet", severity = \'low\',',
         runs=[dict(pcap=EXAMPLES_PCAP,
                    expect=[r"^\tdescription = telnet$",
                            r"^info  external: 10\.0\.0\.1:40000 sent 116 bytes$",
                            r"^info  external: 10\.0\.0\.1:40001 sent 120 bytes$",
                            r"^info  external: 10\.0\.0\.1:40002 sent 0 bytes$"],
                    summary={"alerts": 1, "conn_dropped": 1})]),
    dict(page="docs/rules.md", key='if direction == \'up\' and data:asstring():find("MAIL FROM:<spam@", 1, true) then',
         runs=[dict(pcap=EXAMPLES_PCAP, summary={"reset": 1},
                    expect=[r"dropping connection 10\.0\.0\.1:40000 -> "]),
               dict(pcap=TUTORIAL_PCAP, summary={"reset": 0})]),
    dict(page="docs/rules.md", key="local _, n = iter:check_available(512)",
         runs=[dict(pcap=EXAMPLES_PCAP, summary={"conn_dropped": 1},
                    expect=[SPAM_FLAG_DROPPED]),
               dict(pcap=TUTORIAL_PCAP, summary={"conn_dropped": 0})]),
    dict(page="docs/rules.md", key='haka.alert{ description = "line too long" }',
         runs=[dict(pcap=LONG_LINE_PCAP,
                    expect=[r"^\tdescription = line too long$"],
                    summary={"alerts": 1, "conn_dropped": 1}),
               dict(pcap=EXAMPLES_PCAP, summary={"alerts": 0})]),
    dict(page="docs/rules.md", key="severity = 'low' | 'medium' | 'high',",
         schematic="the alternatives of each field, not Lua"),
    dict(page="docs/rules.md", key="local rem = require('regexp/pcre')",
         runs=[dict(pcap=TUTORIAL_PCAP,
                    # the values its comments give
                    postlude="assert(m == '@suspicious.org' and b == 12 and "
                             "e == 27, tostring(m) .. ' ' .. tostring(b) .. "
                             "' ' .. tostring(e))\n"
                             "assert(m2 == '25', tostring(m2))\n"
                             "haka.log('pcre example as documented')\n",
                    warn=r"^warn  core: +no registered rule$",
                    expect=[r"pcre example as documented$"])]),
    # three ways to install the dissector, each run alone: the same
    # commands, and nothing else dissected (the capture's connection to
    # port 80 goes through untouched)
    dict(page="docs/smtp.md", key="smtp.install_tcp_rule(25)             -- every connection to port 25",
         runs=[dict(pcap=TUTORIAL_PCAP, part=("local smtp", "-- or, the original"),
                    postlude=LOG_COMMANDS,
                    expect=[r"^info  external: command MAIL$"],
                    count=SMTP_COMMANDS, summary=NOTHING_STOPPED),
               dict(pcap=TUTORIAL_PCAP, part=("haka.policy{", "-- or, per connection"),
                    postlude=LOG_COMMANDS,
                    expect=[r"^info  external: command MAIL$"],
                    count=SMTP_COMMANDS, summary=NOTHING_STOPPED),
               dict(pcap=TUTORIAL_PCAP, part=("smtp.dissect(flow)", None),
                    prelude="local smtp = require('smtp')\n",
                    wrap=("haka.rule{on = haka.dissectors.tcp_connection."
                          "events.new_connection,\n\teval = function (flow, "
                          "pkt)\n\tif flow.dstport == 25 then\n",
                          "\tend\n\tend}\n"),
                    postlude=LOG_COMMANDS,
                    expect=[r"^info  external: command MAIL$"],
                    count=SMTP_COMMANDS, summary=NOTHING_STOPPED)]),
    dict(page="docs/smtp.md", key="local mail = {}",
         runs=[dict(pcap=EXAMPLES_PCAP, prelude=SMTP_PRELUDE,
                    summary={"conn_dropped": 1},
                    expect=[SPAM_FLAG_DROPPED]),
               dict(pcap=TUTORIAL_PCAP, prelude=SMTP_PRELUDE,
                    summary={"conn_dropped": 0})]),
    dict(page="docs/hakapcap.md", key='haka.log("new tcp connection %s:%d -> %s:%d", flow.srcip,',
         worked_example="tests/pcap/haka/connection-log.lua"),
    dict(page="README.md", key='haka.alert{ description = "unexpected port", severity = \'low\',',
         runs=[dict(pcap=EXAMPLES_PCAP,
                    expect=[r"^\tdescription = unexpected port$",
                            r"^\t\tservice: tcp/23$"],
                    # dropping the SYN drops the telnet connection: its 8
                    # packets (the SYN+FIN to port 80 is let through)
                    summary={"alerts": 1, "dropped": 8, "conn_dropped": 1})]),
]

# hakapcap's summary lines (standard error), as numbers.
SUMMARY = {
    "alerts": r"^summary: connections .*, alerts (\d+)$",
    "conn_dropped": r"^summary: connections \d+ \(.*dropped (\d+),",
    "reset": r"^summary: connections \d+ \(.*reset (\d+),",
    "dropped": r"^summary: verdicts: accepted \d+, dropped (\d+),",
    "rule_errors": r"^summary: verdicts: .*rule errors (\d+),",
}


def hakapcap(build, src, rules, pcap, *opts):
    p = subprocess.run([os.path.join(build, "hakapcap")] + list(opts) +
                       [rules, pcap], cwd=src, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"))


def summary(err):
    out = {}
    for name, pat in SUMMARY.items():
        m = re.search(pat, err, re.M)
        out[name] = int(m.group(1)) if m else None
    return out


def lines_of(text, part):
    if part is None:
        return text
    start, stop = part
    lines = text.splitlines(keepends=True)
    i = next((k for k, l in enumerate(lines) if start in l), None)
    j = next((k for k, l in enumerate(lines) if stop is not None and
              stop in l and k > (i or 0)), len(lines))
    if i is None or (stop is not None and j == len(lines)):
        return None
    return "".join(lines[i:j])


def run_one(build, src, where, text, r, verbose):
    body = lines_of(text, r.get("part"))
    if body is None:
        fail("%s: %r not found in the block" % (where, r["part"]))
        return
    head, tail = r.get("wrap", ("", ""))
    code = r.get("prelude", "") + head + body + tail + r.get("postlude", "")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(code)
    try:
        rc, out, err = hakapcap(build, src, f.name,
                                os.path.join(src, r["pcap"]),
                                "--no-pass-through", "-l", "info,conn=debug")
    finally:
        os.unlink(f.name)
    both = out + err
    label = "%s on %s" % (where, os.path.basename(r["pcap"]))
    if verbose:
        print("---- %s\n%s----\n%s%s" % (label, code, out, err))
    n = len(FAILS)
    s = summary(err)
    warns = [l for l in both.splitlines() if l.startswith("warn  ") and
             not l.startswith("warn  external:") and
             not ("warn" in r and re.search(r["warn"], l))]
    if rc != 0 or re.search(r"^(error|fatal)", both, re.M) or warns or \
            s["rule_errors"] != 0:
        fail("%s: exit %d, rule errors %s, warnings %s\n%s" % (
            label, rc, s["rule_errors"], warns, both))
        return
    for pat in r.get("expect", []):
        if re.search(pat, both, re.M) is None:
            fail("%s: no line matches %r" % (label, pat))
    for pat in r.get("absent", []):
        if re.search(pat, both, re.M) is not None:
            fail("%s: a line matches %r" % (label, pat))
    if "count" in r:
        pat, want = r["count"]
        got = len(re.findall(pat, both, re.M))
        if got != want:
            fail("%s: %d lines match %r, expected %d" % (label, got, pat,
                                                        want))
    for name, want in r.get("summary", {}).items():
        if s[name] != want:
            fail("%s: summary %s is %s, expected %d" % (label, name,
                                                        s[name], want))
    if len(FAILS) == n:
        print("ok   %s" % label)


def worked_example(build, src, page, text, line, rules):
    """The block is the file the page's next sh block runs, and the two
    blocks after it are its standard output and error."""
    where = "%s:%d" % (page, line)
    if read(os.path.join(src, rules)) != text:
        fail("%s: the ```lua block is not %s" % (where, rules))
    bl = blocks(os.path.join(src, page))
    i = next(k for k, b in enumerate(bl) if b[2] == line)
    try:
        (sh, cmds, _), (_, stdout, _), (_, stderr, errline) = bl[i + 1:i + 4]
    except ValueError:
        fail("%s: no sh block and two output blocks after it" % where)
        return
    cmd = [c for c in cmds.splitlines() if "hakapcap" in c]
    words = cmd[0].split() if sh == "sh" and len(cmd) == 1 else []
    if len(words) != 3 or not words[0].endswith("/hakapcap") or \
            words[1] != rules:
        fail("%s: the command after the block is not 'hakapcap %s "
             "CAPTURE': %r" % (where, rules, cmds))
        return
    rc, out, err = hakapcap(build, src, rules, words[2])
    # The last summary line has the run's timings and rates.
    timing = re.compile(r"\d+(\.\d+)?(?= (s|packets/s|Gbit/s|kB)\b)")
    err_shown = timing.sub("N", stderr)
    err_got = timing.sub("N", err)
    diff = matches(stdout, out) or matches(err_shown, err_got)
    if rc != 0 or diff is not None:
        fail("%s: %s: exit %d, output differs from the blocks shown, %s\n"
             "%s%s" % (where, cmds.strip(), rc, diff, out, err))
        return
    if not stderr.strip() or "elapsed" not in stderr.splitlines()[-1] or \
            stderr == err_shown:
        fail("%s: the standard error block at line %d has no timing line" %
             (where, errline))
        return
    print("ok   %s: %s (output as shown)" % (where, cmd[0]))


def main():
    if len(sys.argv) not in (3, 4) or sys.argv[3:] not in ([], ["-v"]):
        print("usage: examples_test.py BUILD_DIR SRC_DIR [-v]",
              file=sys.stderr)
        return 2
    build, src = sys.argv[1], sys.argv[2]
    verbose = sys.argv[3:] == ["-v"]
    used = set()
    for page in pages(src):
        for info, text, line in blocks(os.path.join(src, page)):
            if info != "lua":
                continue
            keys = [i for i, e in enumerate(EXAMPLES) if e["page"] == page and
                    e["key"] in [l.strip() for l in text.splitlines()]]
            where = "%s:%d" % (page, line)
            if len(keys) != 1:
                fail("%s: a ```lua block that %s entry of EXAMPLES "
                     "matches: list it there" %
                     (where, "no" if not keys else "more than one"))
                continue
            e = EXAMPLES[keys[0]]
            if keys[0] in used:
                fail("%s: two blocks match %r" % (where, e["key"]))
            used.add(keys[0])
            if "schematic" in e:
                print("ok   %s: schematic (%s)" % (where, e["schematic"]))
            elif "worked_example" in e:
                worked_example(build, src, page, text, line,
                               e["worked_example"])
            else:
                for r in e["runs"]:
                    run_one(build, src, where, text, r, verbose)
    for i, e in enumerate(EXAMPLES):
        if i not in used:
            fail("%s: no ```lua block has the line %r (EXAMPLES is out of "
                 "date)" % (e["page"], e["key"]))
    print("examples: %d failure(s)" % len(FAILS))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
