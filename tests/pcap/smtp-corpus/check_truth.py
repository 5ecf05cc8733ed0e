#!/usr/bin/python3
"""The SMTP public-corpus test (issue 3).

    check_truth.py [-v] HAKAPCAP DATA_DIR [PCAP...]

(-v: also print the differences explained by a convention, see CONVENTIONS)

Replays every capture of DATA_DIR (tests/data/public: 120 captures and
truth.tsv) through HAKAPCAP with events.lua (next to this script), rebuilds
the mail transactions of every connection from the event lines, and
compares them with the rows of truth.tsv, matched by pcap + client
address:port + transaction index: HELO name, sender, accepted recipients,
content size (dot-unstuffed) and final reply code.

Transactions are rebuilt with the conventions of the corpus README
(/work/shared/corpus/public/README.md, "How the ground truth is derived"),
so that a difference is a difference of the events, not of the bookkeeping:

- replies are paired with commands strictly in order (our own queue of
  pending commands: the greeting first, then every command, plus the end of
  DATA after the content, plus an AUTH line after each 334);
- a transaction starts at MAIL (whatever its reply), or at RCPT/DATA/BDAT
  when none is open; it ends at the reply to the end of data, at BDAT LAST,
  RSET, QUIT, a new MAIL, HELO/EHLO, STARTTLS or the end of the connection;
- helo: the argument of the last HELO/EHLO sent before the transaction;
- mail_from / rcpt_to: the address inside <...> (or the first token);
  rcpt_to is compared on the ACCEPTED recipients (reply 2xx) of both sides;
- data: the content bytes (dot-unstuffed; the sum of the BDAT chunks),
  compared with data_bytes_unstuffed; empty when there is no content;
- final_code: the reply to the end of data or to BDAT LAST; without
  content, the reply to the last MAIL/RCPT/DATA of the transaction.

A truth row without transaction (txn "-") passes when no transaction is
rebuilt for that connection. A rebuilt transaction that truth does not have
is a difference (field "txn").

Differences listed in KNOWN (justified) or PENDING (dissector bugs,
reported) are printed but do not fail. Any other difference, or a hakapcap
run that exits non-zero, makes the script exit 1. The last line is
"N passed, M failed" (N + M = compared transactions).
"""

import os
import re
import subprocess
import sys
from collections import OrderedDict

HERE = os.path.dirname(os.path.abspath(__file__))
RULES = os.path.join(HERE, 'events.lua')
TIMEOUT = 600

# (pcap, client, txn, field) -> reason. Justified differences: the capture
# lacks what is needed, the tshark view's convention differs, or the
# dissector's documented policy differs.
_EARLY = ("the client talks before the server's 220 greeting (early talker: "
          "RFC 5321 3.1 has the client wait for it; %s): the dissector's "
          "policy, the original Haka's state machine (no client grammar in "
          "session_initiation -> alert 'unexpected client command', the "
          "connection is dropped and nothing is dissected); the tshark view "
          "parses the session anyway")
_NO_SERVER = ("the capture has no server side (no-server-data): the dissector "
              "needs the server's greeting and replies (the client's first "
              "line arrives in session_initiation -> 'unexpected client "
              "command', dropped); the tshark view reads the client side alone")
_TLS = ("plaintext-after-starttls: the capture continues in clear text after "
        "STARTTLS was answered 220 (TLS removed from this capture); the "
        "dissector, as on real traffic, treats what follows the 220 as "
        "encrypted and stops parsing (event starttls), so this transaction "
        "after STARTTLS is not seen")

KNOWN = {
    # one-sided capture
    ('arkime-smtp-subject-multi-nospace.pcap', '10.0.0.1:58802', '0', 'txn'):
        _NO_SERVER,
    ('zeek-smtp-one-side-only.pcap', '192.150.187.22:57722', '0', 'txn'):
        _NO_SERVER + ' (no SYN-ACK either)',
    ('zeek-smtp-one-side-only.pcap', '192.150.187.22:57722', '1', 'txn'):
        _NO_SERVER + ' (no SYN-ACK either)',
    # the client does not wait for the greeting
    ('arkime-smtp-moloch-bof.pcap', '127.0.0.1:50328', '0', 'txn'):
        _EARLY % 'packet 4, 1024 bytes HELO..DATA and content, before the '
                 'greeting of packet 5',
    ('arkime-smtp-subject-windows.pcap', '10.0.0.1:40531', '0', 'txn'):
        _EARLY % 'packet 4 carries the whole session, EHLO to the end of '
                 'data, before the 220 of packet 5',
    ('zeek-smtp-mail-transactions-invalid.pcap', '127.0.0.1:44478', '0',
     'txn'): _EARLY % "'EHLO Bob-PC' (packet 4) before the 220 of packet 5",
    ('zeek-smtp-mail-transactions-invalid.pcap', '127.0.0.1:44478', '1',
     'txn'): _EARLY % "'EHLO Bob-PC' (packet 4) before the 220 of packet 5",
    ('zeek-smtp-mail-transactions-invalid.pcap', '127.0.0.1:44478', '2',
     'txn'): _EARLY % "'EHLO Bob-PC' (packet 4) before the 220 of packet 5",
    ('zeek-smtp-mail-transactions-invalid.pcap', '127.0.0.1:44478', '3',
     'txn'): _EARLY % "'EHLO Bob-PC' (packet 4) before the 220 of packet 5",
    ('zeek-connect-with-smtp.pcap', '79.26.245.236:3378', '0', 'txn'):
        _EARLY % "an HTTP 'CONNECT mailin03.sul.t-online.de:25' proxy "
                 "request on port 8240 (no-greeting)",
    # malformed greetings
    ('sv-detect-email-received.pcap', '1.1.1.1:5555', '0', 'txn'):
        "the 220 greeting has no line end (reply-missing-crlf: packet 4 is "
        "the 47 bytes '220 smtpblah.mailserver.xxx.com ESMTP AAAAAAAAA'): "
        "the greeting line is still open when the client's EHLO arrives, "
        "which comes in session_initiation -> 'unexpected client command', "
        "dropped (the dissector's policy, see the early talkers); the "
        "tshark view ends the line at the segment end",
    ('sv-smtp-bug-6053.pcap', '1.1.1.1:5555', '0', 'txn'):
        "the 220 greeting is a single 5038-byte line (suricata bug 6053, "
        "an overlong reply): over the dissector's hard line limit "
        "(smtp_limits.max_line 4096; RFC 5321 4.5.3.1.5 allows 512) -> "
        "'invalid smtp response' alert, the connection is dropped by policy",
    ('sv-smtp-bug-5989.pcap', '192.168.1.4:3326', '0', 'txn'):
        "after the 220, the server sends a ~5000-byte line of 'A' without a "
        "reply code (malformed-reply-line, suricata bug 5989), before any "
        "HELO: an invalid reply in client_initiation fails the session by "
        "design (explicit fail transitions of client_initiation, as the "
        "original's parse_error -> fail) -> 'invalid smtp response', dropped",
    # TLS removed from the capture
    ('arkime-smtp-decrypted.pcap', '185.25.10.15:49475', '0', 'txn'): _TLS,
    ('arkime-smtp-decrypted.pcap', '45.0.10.15:28120', '0', 'txn'): _TLS,
    ('arkime-smtp-decrypted.pcap', '45.0.10.15:28134', '0', 'txn'): _TLS,
    ('arkime-smtp-decrypted.pcap', '185.25.10.15:41347', '0', 'txn'): _TLS,
    # IPv6
    ('zeek-smtp-attachment-msg.pcap', '::1:56660', '0', 'txn'):
        "IPv6 connection (::1): the engine decodes IPv4 only "
        "(docs/hakapcap.md: other frames are forwarded untouched and "
        "counted as non-IPv4), so no connection is seen",
}

# (pcap, client, txn, field) -> description. Dissector bugs, reported to
# the dissector's owner: kept out of KNOWN so that they stay visible, but
# they do not fail the test while the fix is pending.
_PRE354 = ("dissector bug, reported: client lines sent after DATA before "
           "its 354 arrives (pipelined content) are parsed as commands; "
           "after the 354 the server reads them as mail content, so the "
           "content is lost to mail_content rules and the replies shift "
           "(%s)")
_BDAT_BAD = ("dissector bug, reported: an invalid BDAT ('BDAT 5 X', rejected "
             "501/521) is taken as announcing a 5-byte chunk (strtoull on "
             "'5 X'), so the next 5 client bytes are swallowed as chunk data "
             "(%s)")
_CRCRLF = ("dissector bug, reported: the command line 'BDAT %s LAST\\r\\r\\n' "
           "(CR CR LF) is an invalid line for the dissector, skipped without "
           "being queued, while the server answers it (521): the reply is "
           "unmatched (with pipelining every later reply would shift)")
_BDAT_GAP = ("dissector bug, reported: 1000 client bytes are lost inside the "
             "200-byte chunk of 'BDAT 200' (100 bytes seen); after the gap "
             "the parser starts a new 200-byte chunk instead of counting the "
             "lost bytes, swallows DATA, the content and QUIT as chunk data "
             "(the 5 later replies are unmatched), and the DATA part of the "
             "transaction (78 bytes, 250) is lost")

PENDING = {
    # Dissector bugs found by this test and not fixed yet (none now; the
    # five found at first are fixed: content sent before the 354, invalid
    # BDAT, CR CR LF lines, a gap inside a BDAT chunk, unfinished BDAT
    # content at the end).
}

# Differences of convention with truth.tsv that the dissector keeps.
KNOWN.update({
    ('zeek-smtp-bdat-cmd-chunk-size-overflow.pcap', '127.0.0.1:41610', '0',
     'data'):
        "the BDAT size 15555555557777777777 overflows 64 bits: the server "
        "refuses the command (521) and no chunk is read; truth records the "
        "announced size as the data size",
    ('zeek-smtp-bdat-cmd-chunk-size-overflow2.pcap', '127.0.0.1:33762', '0',
     'data'):
        "the BDAT size 184467440737095516150 overflows 64 bits: the server "
        "refuses the command (521) and no chunk is read; truth records the "
        "announced size as the data size",
    ('zeek-smtp-bdat-gap.pcap', '10.0.0.1:12345', '0', 'data'):
        "100 bytes of the 200-byte BDAT chunk were lost in a capture gap: "
        "the content seen is 100 + 78 (DATA, less the final CRLF of the "
        "terminator convention) = 176; truth counts the announced 200",
})


# --- reading the events -------------------------------------------------------

def unesc(s):
    return re.sub(rb'\\x([0-9a-f]{2})', lambda m: bytes([int(m.group(1), 16)]),
                  s)


def text(b):
    return b.decode('utf-8', 'surrogateescape')


def extract_path(param):
    """The address of "FROM:<a@b> SIZE=1": inside <...>, else the first
    token after the colon (README: mail_from / rcpt_to columns)."""
    if param is None:
        return ''
    i = param.find(':')
    rest = param[i + 1:] if i >= 0 else param
    rest = rest.lstrip(' \t')
    if rest.startswith('<'):
        j = rest.find('>')
        return rest[1:j] if j >= 0 else rest[1:]
    m = re.match(r'[^ \t]*', rest)
    return m.group(0)


class Txn:
    def __init__(self, helo):
        self.helo = helo
        self.mail_from = ''
        self.rcpts = []           # [address, code or None]
        self.last_code = None     # reply to the last MAIL/RCPT/DATA
        self.content = False      # DATA accepted or BDAT sent
        self.eod_code = None      # reply to the end of data / BDAT LAST
        self.data = None          # content bytes (unstuffed)
        self.end = None

    def final(self):
        return self.eod_code if self.content else self.last_code

    def fields(self):
        return {
            'helo': self.helo,
            'mail_from': self.mail_from,
            'rcpt_to': ','.join(a for a, c in self.rcpts
                                if c is not None and 200 <= c < 300),
            'data': '' if self.data is None else str(self.data),
            'final_code': '' if self.final() is None else str(self.final()),
        }


class Conn:
    """One connection rebuilt from its events."""

    def __init__(self, cid, client, server):
        self.cid, self.client, self.server = cid, client, server
        self.queue = [('GREETING', None)]
        self.txns = []
        self.cur = None           # the open transaction
        self.in_data = None       # transaction whose DATA got 354
        self.bdat_txn = None      # transaction whose BDAT chunks go on
        self.helo = ''
        self.tls = False
        self.ncmd = self.nrsp = 0
        self.unmatched = 0
        self.anomalies = []
        self.partial = None
        self.state = None
        self.log = []             # (kind, text) for the diagnostics

    def close(self, why):
        if self.cur is not None:
            self.cur.end = why
            self.cur = None

    def open(self):
        self.cur = Txn(self.helo)
        self.txns.append(self.cur)
        return self.cur

    def end_of_data(self, nbytes):
        """The content of the DATA in progress ended (CONTENT event, or a
        command/reply that shows the dissector left DATA)."""
        t = self.in_data
        self.in_data = None
        if nbytes is not None:
            t.data = (t.data or 0) + nbytes
        elif t.data is None:
            t.data = 0
        self.queue.append(('DOT', t))
        self.close('data') if self.cur is t else None

    def command(self, verb, param):
        self.ncmd += 1
        v = verb.upper()
        if self.in_data is not None:
            # a command after the 354 without content: empty mail
            self.end_of_data(None)
        item = (v, None)
        if v in ('HELO', 'EHLO'):
            self.close('helo')
            self.helo = param or ''
        elif v == 'MAIL':
            self.close('mail')
            t = self.open()
            t.mail_from = extract_path(param)
            item = (v, t)
        elif v == 'RCPT':
            t = self.cur or self.open()
            r = [extract_path(param), None]
            t.rcpts.append(r)
            item = (v, (t, r))
        elif v == 'DATA':
            t = self.cur or self.open()
            item = (v, t)
        elif v == 'BDAT':
            # README: "BDAT n [LAST]"; an invalid size or syntax is not
            # content (the server rejects it) but its reply counts as the
            # last reply of an open transaction
            args = (param or '').split()
            valid = (1 <= len(args) <= 2 and args[0].isdigit() and
                     (len(args) == 1 or args[1].upper() == 'LAST'))
            if not valid:
                item = ('BDAT_BAD', self.cur)
            else:
                t = self.cur or self.open()
                t.content = True
                self.bdat_txn = t
                last = len(args) == 2
                item = ('BDAT_LAST' if last else 'BDAT', t)
                if last:
                    self.close('bdat-last')
        elif v == 'RSET':
            self.close('rset')
        elif v == 'QUIT':
            self.close('quit')
        elif v == 'STARTTLS':
            self.close('starttls')
        self.queue.append(item)

    def reply(self, codes):
        self.nrsp += 1
        try:
            code = int(codes.split(',')[0])
        except ValueError:
            code = None
        if self.in_data is not None and not self.queue:
            # the end-of-data reply of an empty mail
            self.end_of_data(None)
        if not self.queue:
            self.unmatched += 1
            return
        v, ref = self.queue.pop(0)
        if v == 'MAIL':
            ref.last_code = code
        elif v == 'RCPT':
            t, r = ref
            r[1] = code
            t.last_code = code
        elif v == 'DATA':
            ref.last_code = code
            if code == 354:
                ref.content = True
                self.in_data = ref
        elif v in ('DOT', 'BDAT_LAST'):
            ref.eod_code = code
        elif v == 'BDAT_BAD' and ref is not None:
            ref.last_code = code
        elif v in ('AUTH', 'AUTH_CONT') and code == 334:
            self.queue.append(('AUTH_CONT', None))
        elif v == 'STARTTLS' and code == 220:
            self.tls = True

    def content(self, nbytes):
        if self.in_data is not None:
            self.end_of_data(nbytes)
        elif self.bdat_txn is not None:
            t = self.bdat_txn
            t.data = (t.data or 0) + nbytes
            self.bdat_txn = None
        else:
            self.log.append(('content-without-data', str(nbytes)))
        self.partial = None

    def finish(self):
        if self.partial is not None:
            t = self.in_data or self.bdat_txn
            if t is not None:
                t.data = (t.data or 0) + self.partial
        if self.in_data is not None:
            self.close('eof-in-data')
        self.close('eof')


def run_capture(hakapcap, path):
    """Replay one capture; returns (rc, stderr, conns by client)."""
    try:
        p = subprocess.run([hakapcap, '-a', '/dev/null', RULES, path],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=TIMEOUT)
        rc, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        rc, out, err = 'timeout', e.stdout or b'', e.stderr or b''
    conns = OrderedDict()
    by_id = {}
    for line in out.split(b'\n'):
        if not line.startswith(b'EV\t'):
            continue
        f = line.split(b'\t')
        if len(f) < 5:
            continue
        kind, cid = text(f[1]), text(f[2])
        cli, srv = text(f[3]), text(f[4])
        args = [text(unesc(a)) for a in f[5:]]
        c = by_id.get(cid)
        if c is None or kind == 'CONN':
            c = Conn(cid, cli, srv)
            by_id[cid] = c
            key = cli
            n = 1
            while key in conns:
                n += 1
                key = '%s#%d' % (cli, n)
            conns[key] = c
        if kind == 'CMD':
            param = None if args[1] == '-' else args[1][1:]
            c.log.append(('CMD', args[0] + ('' if param is None
                                            else ' ' + param)))
            c.command(args[0], param)
        elif kind == 'RSP':
            c.log.append(('RSP', args[0]))
            c.reply(args[0])
        elif kind == 'CONTENT':
            c.log.append(('CONTENT', args[0]))
            c.content(int(args[0]))
        elif kind == 'PARTIAL':
            c.log.append(('PARTIAL', args[0]))
            c.partial = int(args[0])
        elif kind == 'ANOMALY':
            c.anomalies.append(args[0])
            c.log.append(('ANOMALY', args[0]))
        elif kind == 'STARTTLS':
            c.log.append(('STARTTLS', ''))
        elif kind == 'END':
            c.state = args[0] if args else None
            c.log.append(('END', c.state or ''))
    for c in conns.values():
        c.finish()
    return rc, err, conns


# --- comparing ------------------------------------------------------------------

FIELDS = ('helo', 'mail_from', 'rcpt_to', 'data', 'final_code')


def load_truth(path):
    rows = []
    with open(path, encoding='utf-8', errors='surrogateescape') as fp:
        header = fp.readline().rstrip('\n').split('\t')
        for line in fp:
            if not line.strip():
                continue
            v = line.rstrip('\n').split('\t')
            v += [''] * (len(header) - len(v))
            rows.append(dict(zip(header, v)))
    return rows


def truth_fields(row):
    rc = row['rcpt_to'].split(',') if row['rcpt_to'] else []
    codes = row['rcpt_codes'].split(',') if row['rcpt_codes'] else []
    acc = [a for i, a in enumerate(rc)
           if i < len(codes) and codes[i].isdigit()
           and 200 <= int(codes[i]) < 300]
    return {
        'helo': row['helo'],
        'mail_from': row['mail_from'],
        'rcpt_to': ','.join(acc),
        'data': row['data_bytes_unstuffed'] if row['data_kind'] else '',
        'final_code': row['final_code'],
    }


# Convention differences applied to every row, with their reason. The rows
# they apply to are reported as "known (convention ...)".
CONVENTIONS = {
    'data-last-eol': (
        "our dissector's documented policy (the original Haka's, kept by the "
        "reference test pcap-smtp-mail-content; HAKA.md 'smtp_data': "
        "\"line1\\r\\nline2\\r\\n.\\r\\n\" -> data = \"line1\\r\\nline2\"): "
        "the end-of-data token %r%n.%r%n (%r?%n.%r?%n in a bare-LF "
        "session) includes the line ending of the last content line, "
        "which the tshark view counts as content (RFC 5321 4.1.1.4); "
        "the DATA content is 2 bytes shorter (1 or 2 in a bare-LF session)"),
}


def convention(row, field, want, got):
    """The name of the convention that explains the difference, or None."""
    if field == 'data' and 'DATA' in row['data_kind'] and \
            row['txn_end'] == 'data' and want.isdigit() and got.isdigit():
        feats = row['features'].split(',')
        eols = (1, 2) if ('bare-lf-data' in feats or
                          'bare-lf-cmd' in feats) else (2,)
        if int(want) - int(got) in eols:
            return 'data-last-eol'
    return None


def short(s, n=100):
    s = repr(s)
    return s if len(s) <= n else s[:n] + '...'


def main(argv):
    if len(argv) < 3:
        print('usage: check_truth.py HAKAPCAP DATA_DIR [PCAP...]')
        return 2
    verbose = '-v' in argv
    argv = [a for a in argv if a != '-v']
    hakapcap, data = argv[1], argv[2]
    only = set(argv[3:])
    rows = load_truth(os.path.join(data, 'truth.tsv'))
    pcaps = sorted(f for f in os.listdir(data)
                   if f.endswith('.pcap') or f.endswith('.pcapng'))
    if only:
        pcaps = [p for p in pcaps if p in only]
    if not pcaps or not rows:
        print('check_truth.py: no capture or no truth row in %s' % data)
        return 1
    truth_by_pcap = OrderedDict()
    for r in rows:
        truth_by_pcap.setdefault(r['pcap'], []).append(r)

    passed = failed = 0
    crashes = []
    unknown = []
    used_known, used_pending = set(), set()
    nknown = npending = nconv = 0

    for pcap in pcaps:
        rc, err, conns = run_capture(hakapcap, os.path.join(data, pcap))
        lines = []
        if rc != 0:
            crashes.append((pcap, rc))
            lines.append('  CRASH: hakapcap exit %s: %s' % (
                rc, text(err.strip().split(b'\n')[-1] if err.strip()
                         else b'')))
        trows = truth_by_pcap.get(pcap, [])
        seen = set()
        p_ok = p_bad = 0
        for row in trows:
            client, txn = row['client'], row['txn']
            c = conns.get(client)
            diffs = []
            if txn == '-':
                got = c.txns if c is not None else []
                if got:
                    diffs.append(('txn', 'no transaction',
                                  '%d transaction(s)' % len(got)))
                    for i in range(len(got)):
                        seen.add((client, i))
            else:
                i = int(txn)
                seen.add((client, i))
                if c is None:
                    diffs.append(('txn', 'transaction', 'no connection'))
                elif i >= len(c.txns):
                    diffs.append(('txn', 'transaction',
                                  'missing (%d rebuilt)' % len(c.txns)))
                else:
                    want, got = truth_fields(row), c.txns[i].fields()
                    for f in FIELDS:
                        if want[f] != got[f]:
                            diffs.append((f, want[f], got[f]))
            row_bad = False
            for f, want, got in diffs:
                key = (pcap, client, txn, f)
                conv = convention(row, f, want, got)
                if conv is not None:
                    nconv += 1
                    if verbose:
                        lines.append('  known   %s txn %s %s: truth %s, got '
                                     '%s (convention %s)' % (
                                         client, txn, f, short(want),
                                         short(got), conv))
                elif key in KNOWN:
                    used_known.add(key)
                    nknown += 1
                    lines.append('  known   %s txn %s %s: truth %s, got %s'
                                 ' (%s)' % (client, txn, f, short(want),
                                            short(got), KNOWN[key]))
                elif key in PENDING:
                    used_pending.add(key)
                    npending += 1
                    lines.append('  pending %s txn %s %s: truth %s, got %s'
                                 ' (%s)' % (client, txn, f, short(want),
                                            short(got), PENDING[key]))
                else:
                    row_bad = True
                    unknown.append((pcap, client, txn, f))
                    lines.append('  DIFF    %s txn %s %s: truth %s, got %s'
                                 % (client, txn, f, short(want), short(got)))
            if row_bad:
                p_bad += 1
            else:
                p_ok += 1
        # transactions that truth does not have
        for client, c in conns.items():
            for i in range(len(c.txns)):
                if (client, i) in seen:
                    continue
                if not any(r['client'] == client for r in trows) and \
                        not c.ncmd:
                    continue
                key = (pcap, client, str(i), 'txn')
                t = c.txns[i].fields()
                desc = 'extra transaction %s' % short(t, 160)
                if key in KNOWN:
                    used_known.add(key)
                    nknown += 1
                    lines.append('  known   %s txn %d txn: %s (%s)' % (
                        client, i, desc, KNOWN[key]))
                    p_ok += 1
                elif key in PENDING:
                    used_pending.add(key)
                    npending += 1
                    lines.append('  pending %s txn %d txn: %s (%s)' % (
                        client, i, desc, PENDING[key]))
                    p_ok += 1
                else:
                    unknown.append(key)
                    lines.append('  DIFF    %s txn %d txn: %s' % (
                        client, i, desc))
                    p_bad += 1
        passed += p_ok
        failed += p_bad
        ncmd = sum(c.ncmd for c in conns.values())
        nrsp = sum(c.nrsp for c in conns.values())
        print('%-52s %s rows %d ok %d bad, %d conns %d cmds %d replies%s' % (
            pcap, 'ok  ' if not p_bad and rc == 0 else 'FAIL', p_ok, p_bad,
            len(conns), ncmd, nrsp, '' if rc == 0 else ', exit %s' % rc))
        for ln in lines:
            print(ln)

    if not only:
        for key in sorted(set(KNOWN) - used_known):
            print('unused KNOWN entry: %r' % (key,))
        for key in sorted(set(PENDING) - used_pending):
            print('unused PENDING entry (fixed?): %r' % (key,))
    for name, reason in CONVENTIONS.items():
        print('convention %s: %s' % (name, reason))
    print('%d known differences (plus %d by convention), %d pending '
          '(dissector bugs, reported), %d unknown differences, %d crashes' % (
              nknown, nconv, npending, len(unknown), len(crashes)))
    print('%d passed, %d failed' % (passed, failed))
    return 1 if unknown or crashes else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
