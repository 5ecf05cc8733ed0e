#!/usr/bin/python3
"""Raw SMTP client for the end-to-end tests (stdlib only).

    raw_client.py [--pause S] [--timeout S] HOST PORT STEP...

Connects to HOST:PORT with TCP_NODELAY and plays the dialogue STEP by STEP:

    <        read one SMTP reply (every line up to the one "NNN " ends it)
    >TEXT    send TEXT as it is, in its own TCP segment; the escapes \\r,
             \\n, \\t and \\\\ are interpreted, nothing is appended
    =S       sleep S seconds

Between two sends the client sleeps --pause seconds (default 0.5) so that
each send leaves in its own segment: a command can be split across
segments ('>MAIL FROM:<x@suspi' '>cious.org>\\r\\n').

Every reply line is printed as "recv: LINE", every send as "send: TEXT".
The last line is "RESULT WORD" and the exit status tells the outcome:

    0  OK        the whole dialogue was played
    3  TIMEOUT   no reply within --timeout seconds (default 5)
    4  RESET     the connection was reset (ECONNRESET, EPIPE)
    5  EOF       the server closed the connection
    6  REFUSED   the connection could not be opened
    2  usage error; 1 other error
"""
import errno
import socket
import sys
import time


def unescape(text):
    out = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == '\\' and i + 1 < len(text):
            n = text[i + 1]
            out.append({'r': '\r', 'n': '\n', 't': '\t', '\\': '\\'}.get(n, '\\' + n))
            i += 2
        else:
            out.append(c)
            i += 1
    return ''.join(out)


class Eof(Exception):
    pass


def read_reply(sock, buf):
    """One SMTP reply; returns (lines, rest of the buffer)."""
    lines = []
    while True:
        while b'\n' not in buf:
            data = sock.recv(4096)
            if not data:
                raise Eof()
            buf += data
        line, buf = buf.split(b'\n', 1)
        line = line.rstrip(b'\r').decode('latin-1')
        lines.append(line)
        print('recv: ' + line, flush=True)
        if len(line) < 4 or line[3] != '-':
            return lines, buf


def result(word, code):
    print('RESULT ' + word, flush=True)
    sys.exit(code)


def main(argv):
    pause = 0.5
    timeout = 5.0
    args = argv[1:]
    while args and args[0].startswith('--'):
        opt = args.pop(0)
        if opt in ('--pause', '--timeout') and args:
            val = float(args.pop(0))
            if opt == '--pause':
                pause = val
            else:
                timeout = val
        else:
            print(__doc__, file=sys.stderr)
            return 2
    if len(args) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    host, port, steps = args[0], int(args[1]), args[2:]

    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except socket.timeout:
        result('TIMEOUT', 3)
    except OSError as e:
        print('connect: %s' % e, flush=True)
        result('REFUSED', 6)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.settimeout(timeout)
    buf = b''
    sent = False
    try:
        for step in steps:
            if step == '<':
                _, buf = read_reply(sock, buf)
            elif step.startswith('>'):
                if sent and pause > 0:
                    time.sleep(pause)
                text = unescape(step[1:])
                print('send: ' + text.replace('\r', '\\r').replace('\n', '\\n'), flush=True)
                sock.sendall(text.encode('latin-1'))
                sent = True
            elif step.startswith('='):
                time.sleep(float(step[1:]))
            else:
                print('bad step %r' % step, file=sys.stderr)
                return 2
    except socket.timeout:
        result('TIMEOUT', 3)
    except Eof:
        result('EOF', 5)
    except OSError as e:
        print('error: %s' % e, flush=True)
        if e.errno in (errno.ECONNRESET, errno.EPIPE):
            result('RESET', 4)
        result('ERROR', 1)
    finally:
        sock.close()
    result('OK', 0)


if __name__ == '__main__':
    sys.exit(main(sys.argv))
