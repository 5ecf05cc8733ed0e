#!/usr/bin/python3
"""bench/smtp_load.py: SMTP load generator, SMTP sink and NOOP latency probe
for the inline benchmark (bench/run_nfq.sh, bench/README.md). Standard
library only.

  smtp_load.py server  [--host 0.0.0.0] [--port 25]
      An SMTP sink: answers the dialogue (220, EHLO, MAIL, RCPT, DATA, NOOP,
      RSET, QUIT) and discards the message data as it arrives, one thread
      per connection, so that the server is not the bottleneck. Runs until
      killed (SIGTERM).

  smtp_load.py load    HOST [--port 25] [--sessions 8] [--size 8M]
                       [--messages 1] [--sender bench@example.com]
      N concurrent sessions, each: EHLO, then MESSAGES times MAIL FROM /
      RCPT TO / DATA of SIZE bytes of base64-looking 76-character lines,
      then QUIT. Prints one line:
        load sessions N messages M bytes B seconds S mbps X failed F
      (B counts the message data sent, S runs from the first connect to
      the last QUIT answer, X = B * 8 / S / 1e6). Exit 1 if a session
      failed.

  smtp_load.py latency HOST [--port 25] [--count 500]
      One session: EHLO, then COUNT NOOP round trips. Prints
        latency count N median_us M p99_us P min_us L max_us H
"""

import argparse
import base64
import os
import socket
import statistics
import sys
import threading
import time

TERM = b"\r\n.\r\n"
RECV = 256 * 1024


def parse_size(s):
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    s = s.strip().upper()
    if s and s[-1] in mult:
        return int(float(s[:-1]) * mult[s[-1]])
    return int(s)


# --- server ------------------------------------------------------------------


class Conn:
    """Line reader over a socket with a reusable buffer."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    def readline(self):
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line = bytes(self.buf[: i + 1])
                del self.buf[: i + 1]
                return line
            chunk = self.sock.recv(RECV)
            if not chunk:
                return None
            self.buf += chunk

    def discard_data(self):
        """Discard up to and including CRLF.CRLF (the command's CRLF is
        already consumed, so the data may end with ".\r\n" right away)."""
        # The DATA command ended with CRLF: it counts as the terminator's
        # first two bytes when the message is empty.
        head = b"\r\n" + bytes(self.buf)
        i = head.find(TERM)
        if i >= 0:
            del self.buf[: i + len(TERM) - 2]
            return True
        tail = head[-4:]
        self.buf = bytearray()
        mem = bytearray(RECV)
        view = memoryview(mem)
        while True:
            n = self.sock.recv_into(view)
            if n == 0:
                return False
            # The terminator may straddle two reads: search the last 4
            # bytes of the previous read plus this one's first bytes too.
            joined = tail + bytes(view[: min(n, 4)])
            j = joined.find(TERM)
            if j >= 0:
                end = j + len(TERM) - len(tail)
                self.buf += mem[end:n]
                return True
            j = mem.find(TERM, 0, n)
            if j >= 0:
                self.buf += mem[j + len(TERM) : n]
                return True
            tail = (tail + bytes(view[max(0, n - 4) : n]))[-4:]


def serve_one(sock):
    c = Conn(sock)
    try:
        sock.sendall(b"220 sink.bench ESMTP smtp_load\r\n")
        while True:
            line = c.readline()
            if line is None:
                return
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                sock.sendall(
                    b"250-sink.bench\r\n250-PIPELINING\r\n"
                    b"250-8BITMIME\r\n250 SIZE 0\r\n"
                )
            elif verb == b"DATA":
                sock.sendall(b"354 go ahead\r\n")
                if not c.discard_data():
                    return
                sock.sendall(b"250 2.0.0 discarded\r\n")
            elif verb == b"QUIT":
                sock.sendall(b"221 2.0.0 bye\r\n")
                return
            elif verb in (b"MAIL", b"RCPT", b"NOOP", b"RSET"):
                sock.sendall(b"250 2.0.0 ok\r\n")
            else:
                sock.sendall(b"502 5.5.2 not implemented\r\n")
    except OSError:
        pass
    finally:
        sock.close()


def server(args):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((args.host, args.port))
    ls.listen(128)
    print("server listening on %s:%d" % (args.host, args.port), flush=True)
    while True:
        s, _ = ls.accept()
        threading.Thread(target=serve_one, args=(s,), daemon=True).start()


# --- client ------------------------------------------------------------------


class Client:
    def __init__(self, host, port, timeout=60):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn = Conn(self.sock)

    def reply(self):
        """Read one (possibly multiline) reply, return its code."""
        while True:
            line = self.conn.readline()
            if line is None:
                raise OSError("connection closed by the server")
            if len(line) < 4 or line[3:4] != b"-":
                return int(line[:3])

    def cmd(self, text, expect):
        self.sock.sendall(text.encode() + b"\r\n")
        code = self.reply()
        if code != expect:
            raise OSError("%r: got %d, expected %d" % (text, code, expect))

    def close(self):
        self.sock.close()


def make_message(size):
    """About size bytes: headers, then 76-character base64 lines; the data
    is dot-safe (no line starts with '.') and ends with CRLF.CRLF."""
    hdr = (
        b"From: bench <bench@example.com>\r\n"
        b"To: sink <sink@mail.haka.test>\r\n"
        b"Subject: smtp_load bulk message\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: application/octet-stream\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
    )
    raw = os.urandom(57 * 1024)  # 57 bytes -> one 76-character line
    block = b"".join(
        base64.b64encode(raw[i : i + 57]) + b"\r\n" for i in range(0, len(raw), 57)
    )
    body = bytearray(hdr)
    while len(body) < size:
        body += block
    del body[max(size, len(hdr) + 78) :]
    # Cut at a line end.
    cut = body.rfind(b"\r\n")
    del body[cut + 2 :]
    return bytes(body) + b".\r\n"


def session(args, msg, result, idx, barrier):
    sent = 0
    try:
        barrier.wait()
        c = Client(args.host, args.port)
        if c.reply() != 220:
            raise OSError("no banner")
        c.cmd("EHLO load%d.bench" % idx, 250)
        for m in range(args.messages):
            c.cmd("MAIL FROM:<%s>" % args.sender, 250)
            c.cmd("RCPT TO:<sink%d@mail.haka.test>" % idx, 250)
            c.cmd("DATA", 354)
            c.sock.sendall(msg)
            if c.reply() != 250:
                raise OSError("message refused")
            sent += len(msg)
        c.cmd("QUIT", 221)
        c.close()
        result[idx] = (sent, time.monotonic(), None)
    except (OSError, ValueError, threading.BrokenBarrierError) as e:
        result[idx] = (sent, time.monotonic(), str(e))


def load(args):
    size = parse_size(args.size)
    msg = make_message(size)
    result = [None] * args.sessions
    barrier = threading.Barrier(args.sessions + 1)
    threads = [
        threading.Thread(target=session, args=(args, msg, result, i, barrier))
        for i in range(args.sessions)
    ]
    for t in threads:
        t.start()
    t0 = time.monotonic()
    barrier.wait()
    for t in threads:
        t.join()
    end = max(r[1] for r in result)
    secs = end - t0
    total = sum(r[0] for r in result)
    failed = [r[2] for r in result if r[2] is not None]
    for f in failed:
        print("session failed: %s" % f, file=sys.stderr)
    print(
        "load sessions %d messages %d bytes %d seconds %.3f mbps %.1f failed %d"
        % (
            args.sessions,
            args.messages,
            total,
            secs,
            total * 8 / secs / 1e6 if secs > 0 else 0.0,
            len(failed),
        ),
        flush=True,
    )
    return 1 if failed else 0


def latency(args):
    c = Client(args.host, args.port)
    if c.reply() != 220:
        raise OSError("no banner")
    c.cmd("EHLO latency.bench", 250)
    rtts = []
    for _ in range(args.count):
        t = time.perf_counter()
        c.cmd("NOOP", 250)
        rtts.append((time.perf_counter() - t) * 1e6)
    c.cmd("QUIT", 221)
    c.close()
    rtts.sort()
    p99 = rtts[min(len(rtts) - 1, int(len(rtts) * 0.99))]
    print(
        "latency count %d median_us %.1f p99_us %.1f min_us %.1f max_us %.1f"
        % (len(rtts), statistics.median(rtts), p99, rtts[0], rtts[-1]),
        flush=True,
    )
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("server")
    s.add_argument("--host", default="0.0.0.0")
    s.add_argument("--port", type=int, default=25)
    lo = sub.add_parser("load")
    lo.add_argument("host")
    lo.add_argument("--port", type=int, default=25)
    lo.add_argument("--sessions", type=int, default=8)
    lo.add_argument("--size", default="8M")
    lo.add_argument("--messages", type=int, default=1)
    lo.add_argument("--sender", default="bench@example.com")
    la = sub.add_parser("latency")
    la.add_argument("host")
    la.add_argument("--port", type=int, default=25)
    la.add_argument("--count", type=int, default=500)
    args = ap.parse_args()
    if args.mode == "server":
        return server(args)
    if args.mode == "load":
        return load(args)
    return latency(args)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
