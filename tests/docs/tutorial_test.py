#!/usr/bin/python3
"""docs/tutorial.md works as written (issue 3, point 8).

    tutorial_test.py replay BUILD_DIR SRC_DIR
    tutorial_test.py daemon BUILD_DIR SRC_DIR      (root: in a network namespace)

The tutorial says that every command in it works as written from the top of
the repository. This test reads the tutorial and checks it:

- docs/smtp.md's ```dot block is the state machine graph that the
  tutorial's --dump-dissector-graph command writes;
- every ```lua block followed by a command that runs a rule file of the
  repository (rules/spam_filter.lua, ...) is that file, byte for byte; a
  block for a file the repository does not have (my_rules.lua) is written
  to that name, as a reader would;
- replay: every ```sh line is run as written, in a scratch directory
  that looks like the top of the repository (build/ is BUILD_DIR, samples/,
  rules/ and haka.conf are the repository's), so that files the commands
  write stay out of the tree; an output block (an unlabelled ```) right
  after a command is its whole output, standard error and output merged,
  where "..." in a line stands for any text (times, the elapsed line); a
  command without an output block must exit 0 and print no error line;
- daemon: the `haka` lines (the daemon, inline on NFQUEUE) run in the
  network namespace this script was started in, as the tutorial's last
  section says to try it on one machine: a small mail server on
  127.0.0.1:25, the client of the original tutorial (HELO some_domain, then
  MAIL FROM a forbidden domain); haka must alert, the server must never see
  the MAIL line (the connection is dropped), and haka must stop cleanly on
  SIGINT and take its iptables rules away.

A command this script does not know fails the test: a new command in the
tutorial needs a way to check it here.
"""
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from doclib import FAILS, blocks, fail, matches, read


def commands(text):
    """The command lines of a sh block, comments removed."""
    out = []
    for line in text.splitlines():
        line = re.sub(r"\s+#.*$", "", line).strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


def scratch(build, src):
    d = tempfile.mkdtemp(prefix="haka-tutorial-")
    os.symlink(os.path.abspath(build), os.path.join(d, "build"))
    for name in ("samples", "rules", "haka.conf"):
        os.symlink(os.path.join(src, name), os.path.join(d, name))
    return d


def rule_file(cmd):
    for w in cmd.split():
        if w.endswith(".lua"):
            return w
    return None


def check_lua(src, work, lua, cmd, line):
    """The ```lua block before cmd is the rule file cmd runs."""
    name = rule_file(cmd)
    if name is None:
        return
    path = os.path.join(src, name)
    if lua is None:
        # Shown earlier in the page, or a file of the repository.
        if not os.path.exists(path):
            fail("line %d: %s runs %s, which the repository does not have "
                 "and no ```lua block gives" % (line, cmd, name))
        return
    if os.path.exists(path):
        if read(path) != lua[0]:
            fail("the ```lua block at line %d is not %s" % (lua[1], name))
    else:
        with open(os.path.join(work, name), "w", encoding="utf-8") as f:
            f.write(lua[0])


def run(work, cmd):
    p = subprocess.run(cmd, shell=True, cwd=work, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=120)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def replay(build, src, doc):
    work = scratch(build, src)
    bl = blocks(doc)
    lua, n_cmd = None, 0
    try:
        for i, (info, text, line) in enumerate(bl):
            if info == "lua":
                lua = (text, line)
                continue
            if info != "sh":
                continue
            nxt = bl[i + 1] if i + 1 < len(bl) else None
            shown = nxt[1] if nxt is not None and nxt[0] == "" else None
            cmds = commands(text)
            for cmd in cmds:
                n_cmd += 1
                word = cmd.split()[0]
                if word == "scripts/build.sh":
                    # ctest runs from the build this command makes.
                    if not os.access(os.path.join(src, word), os.X_OK):
                        fail("line %d: %s is not executable" % (line, word))
                    print("ok   line %d: %s (the build under test)" %
                          (line, cmd))
                    continue
                if word == "haka":
                    print("ok   line %d: %s (checked by the daemon mode)" %
                          (line, cmd))
                    continue
                if word == "dot" and shutil.which("dot") is None:
                    # graphviz is optional: the .dot file is the output.
                    dot = cmd.split()[-1]
                    p = os.path.join(work, dot)
                    if not os.path.exists(p) or \
                            not read(p).startswith("digraph"):
                        fail("line %d: %s: no graph in %s" % (line, cmd, dot))
                    else:
                        print("ok   line %d: %s (graphviz missing: %s "
                              "checked)" % (line, cmd, dot))
                    continue
                if word not in ("./build/hakapcap", "dot"):
                    fail("line %d: unknown command %r: teach this test to "
                         "check it" % (line, cmd))
                    continue
                check_lua(src, work, lua, cmd, line)
                lua = None
                rc, out = run(work, cmd)
                # An output block shows the output of its block's last line.
                output = shown if cmd == cmds[-1] else None
                if output is not None:
                    diff = matches(output, out)
                    if diff is not None:
                        fail("line %d: %s: output differs from the block at "
                             "line %d, %s\n%s" % (line, cmd, nxt[2], diff, out))
                        continue
                if rc != 0 or re.search(r"^(error|fatal)", out, re.M):
                    fail("line %d: %s: exit %d\n%s" % (line, cmd, rc, out))
                    continue
                print("ok   line %d: %s%s" % (
                    line, cmd, " (output as shown)" if output else ""))
        check_graph(src, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if n_cmd < 5:
        fail("only %d commands found in %s" % (n_cmd, doc))


def check_graph(src, work):
    """docs/smtp.md shows the state machine that the dump wrote."""
    path = os.path.join(work, "smtp-state-machine.dot")
    doc = os.path.join(src, "docs", "smtp.md")
    shown = [b for b in blocks(doc) if b[0] == "dot"]
    if not os.path.exists(path) or not shown:
        fail("no smtp-state-machine.dot written, or no ```dot block in %s" %
             doc)
        return
    if read(path) != shown[0][1]:
        fail("%s:%d: the ```dot block is not the smtp-state-machine.dot "
             "that --dump-dissector-graph writes" % (doc, shown[0][2]))
        return
    print("ok   %s:%d: the state machine graph as written" %
          (doc, shown[0][2]))


class MailServer(threading.Thread):
    """127.0.0.1:25, answers like Postfix, records the lines it gets."""

    def __init__(self):
        super().__init__(daemon=True)
        self.lines = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 25))
        self.sock.listen(4)

    def run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            c.settimeout(10)
            f = c.makefile("rb")
            try:
                c.sendall(b"220 localhost ESMTP test\r\n")
                for raw in f:
                    line = raw.decode("latin-1").rstrip("\r\n")
                    self.lines.append(line)
                    verb = line[:4].upper()
                    if verb == "QUIT":
                        c.sendall(b"221 2.0.0 Bye\r\n")
                        break
                    c.sendall(b"250 2.0.0 Ok\r\n")
            except OSError:
                pass
            c.close()


def iptables_queue_rules():
    out = ""
    for tool in ("iptables", "iptables-legacy"):
        if shutil.which(tool):
            p = subprocess.run([tool, "-S"], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
            out += p.stdout.decode()
    return [l for l in out.splitlines() if "NFQUEUE" in l]


def daemon(build, src, doc):
    cmds = []
    for info, text, line in blocks(doc):
        if info == "sh":
            cmds += [(c, line) for c in commands(text)
                     if c.split()[0] == "haka"]
    if not cmds:
        fail("no haka command in %s" % doc)
        return
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    work = scratch(build, src)
    env = dict(os.environ, PATH=os.path.abspath(build) + ":" +
               os.environ.get("PATH", ""))
    server = MailServer()
    server.start()
    try:
        for cmd, line in cmds:
            daemon_one(work, env, server, cmd, line)
    finally:
        server.sock.close()
        shutil.rmtree(work, ignore_errors=True)


def daemon_one(work, env, server, cmd, line):
    if "chain=OUTPUT" not in cmd:
        # The gateway form: only forwarded traffic is queued, which this
        # namespace has none of; it must start and stop cleanly.
        print("     line %d: %s (start and stop)" % (line, cmd))
    log = tempfile.TemporaryFile()
    # Without a shell, so that the exit status is haka's own.
    args = shlex.split(cmd)
    args[0] = shutil.which(args[0], path=env["PATH"]) or args[0]
    p = subprocess.Popen(args, cwd=work, env=env, stdout=log,
                         stderr=subprocess.STDOUT, start_new_session=True)

    def output():
        log.seek(0)
        return log.read().decode("utf-8", "replace")

    try:
        for _ in range(100):
            if "starting" in output() or p.poll() is not None:
                break
            time.sleep(0.1)
        if p.poll() is not None:
            fail("line %d: %s exited %d at start\n%s" %
                 (line, cmd, p.returncode, output()))
            return
        if "starting" not in output():
            # Its log goes to a file here, as under systemd: line by line.
            fail("line %d: %s: no 'starting' line in its log after 10 s" %
                 (line, cmd))
        if not iptables_queue_rules():
            fail("line %d: %s: no NFQUEUE rule installed" % (line, cmd))
        if "chain=OUTPUT" in cmd:
            before = len(server.lines)
            c = socket.create_connection(("127.0.0.1", 25), timeout=5)
            f = c.makefile("rb")
            greet = f.readline()
            c.sendall(b"HELO some_domain\r\n")
            helo = f.readline()
            c.sendall(b"MAIL FROM: hacker@suspicious.org\r\n")
            c.settimeout(2)
            try:
                mail = f.readline()
            except OSError:
                mail = b""
            c.close()
            time.sleep(0.3)
            got = server.lines[before:]
            if not greet.startswith(b"220") or not helo.startswith(b"250"):
                fail("line %d: greeting %r, HELO answered %r" %
                     (line, greet, helo))
            if mail or any(l.startswith("MAIL") for l in got):
                fail("line %d: the MAIL of a forbidden domain went through "
                     "(server got %r, client %r)" % (line, got, mail))
            if "description = forbidden mail domain" not in output():
                fail("line %d: no alert\n%s" % (line, output()))
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGINT)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
                fail("line %d: %s did not stop on SIGINT" % (line, cmd))
    if p.returncode != 0:
        fail("line %d: %s: exit %d after SIGINT\n%s" %
             (line, cmd, p.returncode, output()))
    left = iptables_queue_rules()
    if left:
        fail("line %d: %s left iptables rules: %s" % (line, cmd, left))
    if not any(f.startswith("line %d:" % line) for f in FAILS):
        print("ok   line %d: %s" % (line, cmd))


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("replay", "daemon"):
        print("usage: tutorial_test.py replay|daemon BUILD_DIR SRC_DIR",
              file=sys.stderr)
        return 2
    mode, build, src = sys.argv[1:]
    doc = os.path.join(src, "docs", "tutorial.md")
    if mode == "replay":
        replay(build, src, doc)
    elif os.environ.get("HAKA_TUTORIAL_NS") != "1":
        # A network namespace of its own: the iptables rules haka installs
        # and the mail server on 127.0.0.1:25 stay in it.
        if os.geteuid() != 0 or shutil.which("unshare") is None or \
                shutil.which("ip") is None:
            print("SKIP: the daemon part needs root, unshare and ip")
            return 77
        env = dict(os.environ, HAKA_TUTORIAL_NS="1")
        return subprocess.call(["unshare", "-n", sys.executable,
                                os.path.abspath(__file__)] + sys.argv[1:],
                               env=env)
    else:
        daemon(build, src, doc)
    print("%s: %d failure(s)" % (mode, len(FAILS)))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
