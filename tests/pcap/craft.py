#!/usr/bin/python3
"""Deterministic generator of the crafted test captures.

Run with /usr/bin/python3 (standard library only):

    /usr/bin/python3 tests/pcap/craft.py          # (re)write the captures (not the *-ref.pcap)
    /usr/bin/python3 tests/pcap/craft.py --list   # print every packet of every capture

Every capture is a classic pcap file (little-endian, microsecond
timestamps, snaplen 65535). Packet i (0-based) of every file has the
timestamp 1700000000.000000 + i ms, so running the script again writes
byte-identical files. Addresses, ports, sequence numbers and IP ids are
fixed; IPv4, TCP, UDP and ICMP checksums are correct unless a case says
otherwise.

Defaults: client 10.0.0.1:40000 (MAC 02:00:00:00:00:01), server
10.0.0.2:25 (MAC 02:00:00:00:00:02), Ethernet link type, client ISN
1000000000, server ISN 2000000000, client IP ids from 0x1000, server IP
ids from 0x2000, TTL 64, DF set on TCP packets.

What each capture must produce in the engine is in tests/pcap/README.md.
"""

import os
import struct
import sys

TS0_SEC = 1700000000
TS_STEP_USEC = 1000

# Link types (pcap LINKTYPE_* values).
LT_NULL = 0
LT_EN10MB = 1
LT_RAW = 101
LT_LINUX_SLL = 113
LT_LINUX_SLL2 = 276

ETH_IPV4 = 0x0800
ETH_ARP = 0x0806
ETH_IPV6 = 0x86DD
ETH_8021Q = 0x8100
ETH_8021AD = 0x88A8

PROTO_ICMP = 1
PROTO_TCP = 6
PROTO_UDP = 17

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

CLIENT_MAC = bytes.fromhex("020000000001")
SERVER_MAC = bytes.fromhex("020000000002")
CLIENT_IP = "10.0.0.1"
SERVER_IP = "10.0.0.2"
CLIENT_PORT = 40000
SERVER_PORT = 25
CLIENT_ISN = 1000000000
SERVER_ISN = 2000000000

C, S = "C", "S"  # direction of a packet: sent by the client / by the server

GREETING = b"220 mail.example.org ESMTP\r\n"


# --- checksums and headers ---------------------------------------------


def inet_sum(data, acc=0):
    if len(data) % 2:
        data += b"\x00"
    for (word,) in struct.iter_unpack("!H", data):
        acc += word
    return acc


def inet_csum(data, acc=0):
    acc = inet_sum(data, acc)
    while acc >> 16:
        acc = (acc & 0xFFFF) + (acc >> 16)
    return ~acc & 0xFFFF


def ip4(addr):
    return bytes(int(x) for x in addr.split("."))


def ip6(addr):
    # Only the short forms used here ("fd00::1").
    head, tail = addr.split("::")
    hw = [int(x, 16) for x in head.split(":") if x]
    tw = [int(x, 16) for x in tail.split(":") if x]
    words = hw + [0] * (8 - len(hw) - len(tw)) + tw
    return struct.pack("!8H", *words)


# A wrong checksum is the right one XOR BAD_CSUM_XOR (never equal to the
# right one, nor to its one's complement equivalent 0x0000/0xffff).
BAD_CSUM_XOR = 0x1234


def ipv4_hdr(src, dst, proto, payload_len, ident, frag=0x4000, ttl=64,
             bad_csum=False):
    """20-byte IPv4 header. frag is the flags + offset field (in bytes >> 3
    already combined by the caller)."""
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + payload_len, ident,
                      frag, ttl, proto, 0, ip4(src), ip4(dst))
    csum = inet_csum(hdr)
    if bad_csum:
        csum ^= BAD_CSUM_XOR
    return hdr[:10] + struct.pack("!H", csum) + hdr[12:]


def pseudo4(src, dst, proto, length):
    return ip4(src) + ip4(dst) + struct.pack("!BBH", 0, proto, length)


def pseudo6(src, dst, proto, length):
    return ip6(src) + ip6(dst) + struct.pack("!I3xB", length, proto)


def tcp_seg(pseudo_fn, src, dst, sport, dport, seq, ack, flags, data=b"",
            window=65535, options=b"", bad_csum=False):
    assert len(options) % 4 == 0
    off = (20 + len(options)) // 4
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF,
                      ack & 0xFFFFFFFF, off << 4, flags, window, 0, 0)
    seg = hdr + options + data
    csum = inet_csum(seg, inet_sum(pseudo_fn(src, dst, PROTO_TCP, len(seg))))
    if bad_csum:
        csum ^= BAD_CSUM_XOR
    return seg[:16] + struct.pack("!H", csum) + seg[18:]


def udp_dgram(src, dst, sport, dport, data):
    hdr = struct.pack("!HHHH", sport, dport, 8 + len(data), 0)
    csum = inet_csum(hdr + data,
                     inet_sum(pseudo4(src, dst, PROTO_UDP, 8 + len(data))))
    if csum == 0:
        csum = 0xFFFF
    return hdr[:6] + struct.pack("!H", csum) + data


def icmp_echo(typ, ident, seq, data):
    hdr = struct.pack("!BBHHH", typ, 0, 0, ident, seq)
    csum = inet_csum(hdr + data)
    return hdr[:2] + struct.pack("!H", csum) + hdr[4:] + data


MSS_1460 = struct.pack("!BBH", 2, 4, 1460)


# --- capture files -----------------------------------------------------


class Capture:
    """Frames of one capture file, with a printable listing."""

    def __init__(self, name, linktype=LT_EN10MB, vlans=()):
        self.name = name
        self.linktype = linktype
        self.vlans = vlans  # ((tpid, vid), ...) outermost first, Ethernet only
        self.frames = []
        self.notes = []

    def link(self, l3, ethertype, direction):
        """Wrap a network-layer packet in this capture's link header.
        direction C = sent by the client host (where SLL captures are
        taken: 'outgoing'), S = received from the server."""
        lt = self.linktype
        smac, dmac = ((CLIENT_MAC, SERVER_MAC) if direction == C else
                      (SERVER_MAC, CLIENT_MAC))
        if lt == LT_EN10MB:
            hdr = dmac + smac
            for tpid, vid in self.vlans:
                hdr += struct.pack("!HH", tpid, vid & 0x0FFF)
            return hdr + struct.pack("!H", ethertype) + l3
        if lt == LT_LINUX_SLL:
            pkttype = 4 if direction == C else 0
            return struct.pack("!HHH8sH", pkttype, 1, 6, smac, ethertype) + l3
        if lt == LT_LINUX_SLL2:
            pkttype = 4 if direction == C else 0
            return struct.pack("!HHIHBB8s", ethertype, 0, 2, 1, pkttype, 6,
                               smac) + l3
        if lt == LT_NULL:
            assert ethertype == ETH_IPV4
            return struct.pack("<I", 2) + l3  # AF_INET, little-endian
        if lt == LT_RAW:
            assert ethertype == ETH_IPV4
            return l3
        raise ValueError("link type %d" % lt)

    def add(self, frame, note):
        self.frames.append(frame)
        self.notes.append(note)

    def add_l3(self, l3, ethertype, direction, note):
        self.add(self.link(l3, ethertype, direction), note)

    def write(self, root):
        path = os.path.join(root, self.name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535,
                           self.linktype)]
        for i, frame in enumerate(self.frames):
            usec = i * TS_STEP_USEC
            out.append(struct.pack("<IIII", TS0_SEC + usec // 1000000,
                                   usec % 1000000, len(frame), len(frame)))
            out.append(frame)
        with open(path, "wb") as f:
            f.write(b"".join(out))

    def listing(self):
        lines = ["### %s (link type %d, %d packets)" %
                 (self.name, self.linktype, len(self.frames)), ""]
        for i, note in enumerate(self.notes):
            lines.append("%3d  %s" % (i + 1, note))
        return "\n".join(lines)


def flag_str(flags):
    names = ((SYN, "S"), (FIN, "F"), (RST, "R"), (PSH, "P"), (ACK, "."))
    return "".join(n for bit, n in names if flags & bit) or "-"


def show(data, limit=40):
    s = data[:limit].decode("latin-1")
    s = s.replace("\r", "\\r").replace("\n", "\\n")
    return '"%s"%s' % (s, "..." if len(data) > limit else "")


class TcpConn:
    """One TCP connection between the client and the server of a capture.

    nxt[d] is the next sequence number side d will send. Sequence and
    acknowledgement numbers can be forced for out-of-order, retransmitted
    or missing segments."""

    def __init__(self, cap, cport=CLIENT_PORT, sport=SERVER_PORT,
                 cisn=CLIENT_ISN, sisn=SERVER_ISN, ipv6=False,
                 ipid=(0x1000, 0x2000)):
        self.cap = cap
        self.port = {C: cport, S: sport}
        self.isn = {C: cisn, S: sisn}
        self.nxt = {C: cisn, S: sisn}
        self.ipid = {C: ipid[0], S: ipid[1]}
        self.ipv6 = ipv6
        if ipv6:
            self.addr = {C: "fd00::1", S: "fd00::2"}
        else:
            self.addr = {C: CLIENT_IP, S: SERVER_IP}

    def rel(self, d, seq):
        return (seq - self.isn[d]) & 0xFFFFFFFF

    def seq_at(self, d, off):
        """Sequence number of stream byte 'off' (0-based) of side d."""
        return self.isn[d] + 1 + off

    def send(self, d, flags, data=b"", seq=None, ack=None, advance=True,
             options=b"", bad_ip=False, bad_tcp=False, note=""):
        o = S if d == C else C
        if seq is None:
            seq = self.nxt[d]
        if ack is None:
            ack = self.nxt[o] if flags & ACK else 0
        src, dst = self.addr[d], self.addr[o]
        pseudo = pseudo6 if self.ipv6 else pseudo4
        seg = tcp_seg(pseudo, src, dst, self.port[d], self.port[o], seq, ack,
                      flags, data, options=options, bad_csum=bad_tcp)
        if self.ipv6:
            l3 = struct.pack("!IHBB16s16s", 6 << 28, len(seg), PROTO_TCP, 64,
                             ip6(src), ip6(dst)) + seg
            ethertype = ETH_IPV6
        else:
            l3 = ipv4_hdr(src, dst, PROTO_TCP, len(seg), self.ipid[d],
                          bad_csum=bad_ip) + seg
            ethertype = ETH_IPV4
            self.ipid[d] += 1
        if advance:
            end = seq + len(data) + (1 if flags & (SYN | FIN) else 0)
            if end - self.nxt[d] > 0:
                self.nxt[d] = end
        arrow = "C->S" if d == C else "S->C"
        text = "%s %-3s seq=%d ack=%d len=%d" % (
            arrow, flag_str(flags), self.rel(d, seq),
            self.rel(o, ack) if flags & ACK else 0, len(data))
        if data:
            text += " " + show(data)
        if note:
            text += "  [" + note + "]"
        self.cap.add_l3(l3, ethertype, d, text)

    def data(self, d, payload, **kw):
        self.send(d, PSH | ACK, payload, **kw)

    def handshake(self):
        self.send(C, SYN, options=MSS_1460)
        self.send(S, SYN | ACK, options=MSS_1460)
        self.send(C, ACK)

    def close(self):
        """Client-initiated FIN close."""
        self.send(C, FIN | ACK)
        self.send(S, FIN | ACK)
        self.send(C, ACK)


# --- TCP cases -------------------------------------------------------------


def small_connection(cap, cport=CLIENT_PORT, helo=b"client.example.org"):
    """The small SMTP-like connection used for the link-layer cases."""
    t = TcpConn(cap, cport=cport)
    t.handshake()
    t.data(S, GREETING)
    t.data(C, b"HELO %s\r\n" % helo)
    t.data(S, b"250 mail.example.org\r\n")
    t.data(C, b"QUIT\r\n")
    t.data(S, b"221 2.0.0 Bye\r\n")
    t.close()
    return cap


def out_of_order():
    cap = Capture("tcp/out-of-order.pcap")
    t = TcpConn(cap)
    t.handshake()
    t.data(S, GREETING)
    a, b, c = b"A" * 10, b"B" * 10, b"C" * 10
    t.data(C, a, seq=t.seq_at(C, 0), advance=False, note="segment 1")
    t.send(S, ACK, ack=t.seq_at(C, 10))
    t.data(C, c, seq=t.seq_at(C, 20), advance=False,
           note="segment 3, out of order")
    t.send(S, ACK, ack=t.seq_at(C, 10), note="duplicate ack")
    t.data(C, b, seq=t.seq_at(C, 10), advance=False,
           note="segment 2 fills the hole")
    t.nxt[C] = t.seq_at(C, 30)
    t.send(S, ACK)
    t.data(S, b"250 OK\r\n")
    t.close()
    return cap


def retransmit_diff():
    cap = Capture("tcp/retransmit-diff.pcap")
    t = TcpConn(cap)
    t.handshake()
    t.data(S, GREETING)
    t.data(C, b"B" * 10, seq=t.seq_at(C, 10), advance=False,
           note="segment 2 first: queued out of order")
    t.send(S, ACK, ack=t.seq_at(C, 0), note="duplicate ack")
    t.data(C, b"X" * 10, seq=t.seq_at(C, 10), advance=False,
           note="retransmission of segment 2 with DIFFERENT bytes")
    t.send(S, ACK, ack=t.seq_at(C, 0), note="duplicate ack")
    t.data(C, b"A" * 10, seq=t.seq_at(C, 0), advance=False,
           note="segment 1")
    t.nxt[C] = t.seq_at(C, 20)
    t.send(S, ACK)
    t.data(C, b"A" * 10, seq=t.seq_at(C, 0), advance=False,
           note="identical retransmission of segment 1")
    t.send(S, ACK, note="duplicate ack")
    t.data(S, b"250 OK\r\n")
    t.close()
    return cap


def one_byte_segments():
    cap = Capture("tcp/one-byte-segments.pcap")
    t = TcpConn(cap)
    t.handshake()
    t.data(S, GREETING)
    for ch in b"HELLO WORLD\r\n":
        t.data(C, bytes([ch]))
        t.send(S, ACK)
    t.data(S, b"502 5.5.2 Error: command not recognized\r\n")
    t.close()
    return cap


def missing_segment():
    cap = Capture("tcp/missing-segment.pcap")
    t = TcpConn(cap)
    t.handshake()
    t.data(S, GREETING)
    t.data(C, b"A" * 10, seq=t.seq_at(C, 0), advance=False)
    t.send(S, ACK, ack=t.seq_at(C, 10))
    # Segment "BBBBBBBBBB" (stream bytes 10-19) was sent but not captured.
    t.data(C, b"C" * 10, seq=t.seq_at(C, 20), advance=False,
           note="bytes 10-19 never captured")
    t.nxt[C] = t.seq_at(C, 30)
    t.send(S, ACK, note="ack covers the hole: all 30 bytes")
    t.data(C, b"D" * 10)
    t.send(S, ACK)
    t.data(S, b"250 OK\r\n")
    t.close()
    return cap


def rst_middle():
    cap = Capture("tcp/rst-middle.pcap")
    t = TcpConn(cap)
    t.handshake()
    t.data(S, GREETING)
    t.data(C, b"HELO client.example.org\r\n")
    t.data(S, b"250 mail.example.org\r\n")
    t.data(C, b"MAIL FROM:<alice@example.org>\r\n")
    t.send(C, RST | ACK, note="client aborts the connection")
    t.data(S, b"250 2.1.0 Ok\r\n", note="late, after the RST")
    t.send(S, FIN | ACK, note="late, after the RST")
    return cap


def data_after_close():
    cap = Capture("tcp/data-after-close.pcap")
    t = TcpConn(cap)
    t.handshake()
    t.data(S, GREETING)
    t.data(C, b"HELO client.example.org\r\n")
    t.data(S, b"250 mail.example.org\r\n")
    fin_seq = t.nxt[C]
    t.close()
    t.send(C, ACK, note="final ACK again")
    t.send(C, FIN | ACK, seq=fin_seq, advance=False,
           note="FIN retransmitted")
    t.data(C, b"HELO client.example.org\r\n", seq=t.seq_at(C, 0),
           advance=False, note="copy of inspected bytes")
    t.data(C, b"MAIL FROM:<evil@example.net>\r\n",
           note="new bytes after the close")
    t.data(C, b"RCPT TO:<bob@example.org>\r\n",
           seq=t.nxt[C] + 100, advance=False,
           note="new bytes after the close, beyond a hole")
    t.data(S, b"250 2.1.0 Ok\r\n", note="new server bytes after the close")
    return cap


def no_handshake():
    cap = Capture("tcp/no-handshake.pcap")
    # Connection 1: SYN and SYN-ACK before the capture started; the
    # sequence numbers go on from the default ISNs as if 100 client and 200
    # server bytes had already been exchanged.
    t = TcpConn(cap)
    t.nxt[C] = t.seq_at(C, 100)
    t.nxt[S] = t.seq_at(S, 200)
    t.data(C, b"MAIL FROM:<alice@example.org>\r\n",
           note="first packet seen: no handshake")
    t.data(S, b"250 2.1.0 Ok\r\n")
    t.data(C, b"QUIT\r\n")
    t.data(S, b"221 2.0.0 Bye\r\n")
    t.close()
    # Connection 2: a SYN sent and retransmitted 3 times, never answered.
    u = TcpConn(cap, cport=CLIENT_PORT + 1, cisn=CLIENT_ISN + 5000000,
                ipid=(t.ipid[C], t.ipid[S]))
    u.send(C, SYN, options=MSS_1460, note="connection 2")
    for i in range(3):
        u.send(C, SYN, seq=u.isn[C], options=MSS_1460,
               note="connection 2, SYN retransmission %d" % (i + 1))
    return cap


def link_cases():
    return [
        small_connection(Capture("tcp/vlan.pcap",
                                 vlans=((ETH_8021Q, 100),))),
        small_connection(Capture("tcp/qinq.pcap",
                                 vlans=((ETH_8021AD, 200), (ETH_8021Q, 100)))),
        small_connection(Capture("tcp/sll.pcap", LT_LINUX_SLL)),
        small_connection(Capture("tcp/sll2.pcap", LT_LINUX_SLL2)),
        small_connection(Capture("tcp/null.pcap", LT_NULL)),
        small_connection(Capture("tcp/raw.pcap", LT_RAW)),
    ]


# --- IPv4 cases ------------------------------------------------------------


def fragment(cap, d, src, dst, proto, ident, payload, off, length, more,
             data=None, note=""):
    """Add one fragment carrying payload[off:off+length] (or 'data')."""
    chunk = payload[off:off + length] if data is None else data
    assert off % 8 == 0 and len(chunk) == length
    frag = (0x2000 if more else 0) | (off >> 3)
    l3 = ipv4_hdr(src, dst, proto, len(chunk), ident, frag=frag) + chunk
    text = "%s %s > %s id=0x%04x offset=%d len=%d%s" % (
        "C->S" if d == C else "S->C", src, dst, ident, off, length,
        " MF" if more else "")
    if note:
        text += "  [" + note + "]"
    cap.add_l3(l3, ETH_IPV4, d, text)


ECHO_DATA = (b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
             b"0123456789+/")
assert len(ECHO_DATA) == 64


def frag_overlap_diff():
    cap = Capture("ipv4/frag-overlap-diff.pcap")
    ident = 0x3039
    icmp = icmp_echo(8, 0x1234, 1, ECHO_DATA)  # 72 bytes: 8 header + 64
    fragment(cap, C, CLIENT_IP, SERVER_IP, PROTO_ICMP, ident, icmp, 0, 24,
             True, note="ICMP header + data[0:16]")
    # Second fragment: bytes 16-47, the first 8 of which (16-23, already
    # sent by fragment 1 as "ijklmnop") are replaced by "XXXXXXXX".
    fragment(cap, C, CLIENT_IP, SERVER_IP, PROTO_ICMP, ident, icmp, 16, 32,
             True, data=b"X" * 8 + icmp[24:48],
             note="overlaps bytes 16-23 with different data")
    fragment(cap, C, CLIENT_IP, SERVER_IP, PROTO_ICMP, ident, icmp, 48, 24,
             False)
    reply = icmp_echo(0, 0x1234, 1, ECHO_DATA)
    l3 = ipv4_hdr(SERVER_IP, CLIENT_IP, PROTO_ICMP, len(reply), 0x2000,
                  frag=0) + reply
    cap.add_l3(l3, ETH_IPV4, S, "S->C %s > %s ICMP echo reply id=0x1234 "
               "seq=1 len=64, not fragmented" % (SERVER_IP, CLIENT_IP))
    return cap


def udp_payload_3000():
    # 375 distinct 8-byte records "0000000\n" ... "0000374\n".
    return b"".join(b"%07d\n" % i for i in range(375))


def frag_simple():
    cap = Capture("ipv4/frag-simple.pcap")
    dgram = udp_dgram(CLIENT_IP, SERVER_IP, CLIENT_PORT, SERVER_PORT,
                      udp_payload_3000())  # 3008 bytes
    ident = 0x3A98
    args = (cap, C, CLIENT_IP, SERVER_IP, PROTO_UDP, ident, dgram)
    fragment(*args, 2960, 48, False, note="last fragment first")
    fragment(*args, 0, 1480, True)
    fragment(*args, 1480, 1480, True)
    return cap


def frag_incomplete():
    cap = Capture("ipv4/frag-incomplete.pcap")
    dgram = udp_dgram(CLIENT_IP, SERVER_IP, CLIENT_PORT, SERVER_PORT,
                      udp_payload_3000())
    ident = 0x3A99
    args = (cap, C, CLIENT_IP, SERVER_IP, PROTO_UDP, ident, dgram)
    fragment(*args, 0, 1480, True)
    fragment(*args, 2960, 48, False,
             note="fragment at offset 1480 never captured")
    return cap


def bad_checksum():
    cap = Capture("ipv4/bad-checksum.pcap")
    t = TcpConn(cap)
    t.send(C, SYN, options=MSS_1460)
    t.send(S, SYN | ACK, options=MSS_1460, bad_ip=True,
           note="wrong IPv4 header checksum (TCP checksum right)")
    t.send(C, ACK, bad_tcp=True,
           note="wrong TCP checksum (IPv4 checksum right)")
    return cap


def non_ipv4():
    cap = Capture("ipv4/non-ipv4.pcap")
    arp = struct.pack("!HHBBH6s4s6s4s", 1, ETH_IPV4, 6, 4, 1, CLIENT_MAC,
                      ip4(CLIENT_IP), b"\x00" * 6, ip4(SERVER_IP))
    frame = b"\xff" * 6 + CLIENT_MAC + struct.pack("!H", ETH_ARP) + arp
    frame += b"\x00" * (60 - len(frame))  # Ethernet minimum, as on the wire
    cap.add(frame, "C->bcast ARP who-has %s tell %s (padded to 60 bytes)" %
            (SERVER_IP, CLIENT_IP))
    TcpConn(cap, ipv6=True).send(C, SYN, options=MSS_1460,
                                 note="IPv6 fd00::1 -> fd00::2")
    TcpConn(cap).send(C, SYN, options=MSS_1460, note="IPv4")
    return cap


def malformed():
    """IPv4 headers the engine cannot read: each raises its anomaly to
    ipv4.events.anomaly rules; a valid SYN follows."""
    cap = Capture("ipv4/malformed.pcap")
    good = ipv4_hdr(CLIENT_IP, SERVER_IP, 6, 0, 7)
    cap.add_l3(good[:12], ETH_IPV4, C,
               "IPv4 header cut after 12 bytes (ipv4_truncated)")
    v6 = bytes([0x65]) + good[1:]
    cap.add_l3(v6, ETH_IPV4, C, "version 6 in an IPv4 frame (ipv4_bad_version)")
    ihl4 = bytes([0x44]) + good[1:]
    cap.add_l3(ihl4, ETH_IPV4, C,
               "header length 16 bytes (ipv4_bad_header_length)")
    short = good[:2] + struct.pack("!H", 10) + good[4:]
    cap.add_l3(short, ETH_IPV4, C,
               "total length 10, below the header (ipv4_bad_total_length)")
    cap.add(CLIENT_MAC[:6], "6-byte frame, shorter than an Ethernet header "
            "(link_truncated)")
    TcpConn(cap).send(C, SYN, options=MSS_1460, note="a valid IPv4 SYN")
    return cap


# --- SMTP cases --------------------------------------------------------------


def smtp_gap_partial_line():
    """Segments lost in the middle of a command line and of a reply line:
    the bytes before each hole are an element that can never complete."""
    cap = Capture("smtp/gap-partial-line.pcap")
    t = TcpConn(cap)
    t.handshake()
    t.data(S, GREETING)
    t.data(C, b"EHLO client.example.org\r\n")
    t.data(S, b"250-mail.example.org\r\n250 PIPELINING\r\n")
    t.data(C, b"MAIL FROM:<a", note="a command line cut by the hole")
    t.nxt[C] += 10
    t.data(C, b"\r\nRCPT TO:<b@y.org>\r\n",
           note="10 bytes before it never captured")
    t.send(S, ACK, note="ack covers the hole")
    t.data(S, b"250 Ok\r\n250 Ok\r\n")
    t.data(C, b"NOOP\r\n")
    t.data(S, b"250 O", note="a reply line cut by the hole")
    t.nxt[S] += 5
    t.data(S, b"\r\n", note="5 bytes before it never captured")
    t.send(C, ACK, note="ack covers the hole")
    t.data(C, b"QUIT\r\n")
    t.data(S, b"221 2.0.0 Bye\r\n")
    t.close()
    return cap


def smtp_gap_bdat_last():
    """The end of a BDAT LAST chunk lost: the mail still ends there, and
    the next mail's chunk is a mail of its own."""
    cap = Capture("smtp/gap-bdat-last.pcap")
    t = TcpConn(cap)
    t.handshake()
    t.data(S, GREETING)
    t.data(C, b"EHLO client.example.org\r\n")
    t.data(S, b"250-mail.example.org\r\n250 CHUNKING\r\n")
    t.data(C, b"MAIL FROM:<a@x.org>\r\nRCPT TO:<b@y.org>\r\n")
    t.data(S, b"250 Ok\r\n250 Ok\r\n")
    t.data(C, b"BDAT 10 LAST\r\n01234",
           note="the last 5 bytes of the chunk are lost")
    t.nxt[C] += 5
    t.data(C, b"MAIL FROM:<c@x.org>\r\n")
    t.send(S, ACK, note="ack covers the hole")
    t.data(S, b"250 queued\r\n250 Ok\r\n")
    t.data(C, b"RCPT TO:<d@y.org>\r\nBDAT 3 LAST\r\nxyz")
    t.data(S, b"250 Ok\r\n250 queued\r\n")
    t.data(C, b"QUIT\r\n")
    t.data(S, b"221 2.0.0 Bye\r\n")
    t.close()
    return cap


def smtp_mail_pieces():
    """A mail of 5,000 bytes of content in four segments, so that the
    dissector delivers it in two pieces (4,096 bytes, then the rest); its
    first lines hold control characters (an escape sequence, a bare CR, a
    NUL)."""
    cap = Capture("smtp/mail-pieces.pcap")
    t = TcpConn(cap)
    t.handshake()
    t.data(S, GREETING)
    t.data(C, b"HELO client.example.org\r\n")
    t.data(S, b"250 mail.example.org\r\n")
    t.data(C, b"MAIL FROM:<a@x.org>\r\n")
    t.data(S, b"250 Ok\r\n")
    t.data(C, b"RCPT TO:<b@y.org>\r\n")
    t.data(S, b"250 Ok\r\n")
    t.data(C, b"DATA\r\n")
    t.data(S, b"354 go ahead\r\n")
    body = b"Subject: hi\r\n\r\n\x1b[2Jred\rX\x00\r\n"
    i = 0
    while len(body) < 5000 - 62:
        body += b"line %04d: %s\r\n" % (i, b"x" * 50)
        i += 1
    body += b"z" * (5000 - len(body) - 2) + b"\r\n"
    assert len(body) == 5000
    data = body + b".\r\n"
    for off in range(0, len(data), 1400):
        t.data(C, data[off:off + 1400], note="content")
    t.data(S, b"250 queued\r\n")
    t.data(C, b"QUIT\r\n")
    t.data(S, b"221 2.0.0 Bye\r\n")
    t.close()
    return cap


def smtp_memcap():
    """Three SMTP connections; the second opens while the first is still
    open, the third after the first closed. With --smtp-limit memcap=1
    the first session is admitted (nothing held yet), the second refused
    (the first holds more than 1 byte): its connection is dropped; the
    third is admitted again once the first session's memory was given
    back."""
    cap = Capture("smtp/memcap.pcap")
    a = TcpConn(cap, cport=40000)
    a.handshake()
    a.data(S, GREETING)
    a.data(C, b"EHLO a.example.org\r\n")
    # Every kind of memory a session grows: a reply of 60 lines (arena
    # blocks), 40 pipelined RCPT (queue and parameters), 40 accepted
    # recipients, a content buffer. All must be given back at the end,
    # or the third session would be refused.
    a.data(S, b"".join(b"250-extension-%02d\r\n" % i for i in range(59))
           + b"250 PIPELINING\r\n", note="60 lines")
    a.data(C, b"MAIL FROM:<a@example.org>\r\n" +
           b"".join(b"RCPT TO:<recipient-number-%02d@example.org>\r\n" % i
                    for i in range(40)), note="MAIL and 40 RCPT")
    a.data(S, b"250 Ok\r\n" * 41)
    a.data(C, b"DATA\r\n")
    a.data(S, b"354 go ahead\r\n")
    small_connection(cap, 40001, b"b.example.org")
    a.data(C, b"Subject: hi\r\n\r\nhello\r\n.\r\n", note="content")
    a.data(S, b"250 queued\r\n")
    a.data(C, b"QUIT\r\n")
    a.data(S, b"221 2.0.0 Bye\r\n")
    a.close()
    small_connection(cap, 40002, b"c.example.org")
    return cap


def docs_examples():
    """Traffic for the Lua examples of docs/ (tests/docs/examples_test.py):
    each example that acts on something finds it here. Five connections
    to 10.0.0.2, one after the other:
    1. 10.0.0.1:40000 -> :25, a mail from <spam@example.com> (a plain
       body);
    2. 10.0.0.1:40001 -> :25, a mail from <a@x.org> whose header has
       "X-Spam-Flag: YES";
    3. 10.0.0.1:40002 -> :23 (telnet), a login prompt and 4 bytes up;
    4. 10.0.0.66:40003 -> :25, a SYN alone;
    5. 10.0.0.1:40004 -> :80, a SYN+FIN alone."""
    cap = Capture("docs/examples.pcap")

    def mail(cport, sender, body):
        t = TcpConn(cap, cport=cport)
        t.handshake()
        t.data(S, GREETING)
        t.data(C, b"HELO client.example.org\r\n")
        t.data(S, b"250 mail.example.org\r\n")
        t.data(C, b"MAIL FROM:<%s>\r\n" % sender)
        t.data(S, b"250 Ok\r\n")
        t.data(C, b"RCPT TO:<b@y.org>\r\n")
        t.data(S, b"250 Ok\r\n")
        t.data(C, b"DATA\r\n")
        t.data(S, b"354 go ahead\r\n")
        t.data(C, body + b".\r\n", note="content")
        t.data(S, b"250 queued\r\n")
        t.data(C, b"QUIT\r\n")
        t.data(S, b"221 2.0.0 Bye\r\n")
        t.close()

    mail(40000, b"spam@example.com", b"Subject: offer\r\n\r\nbuy now\r\n")
    mail(40001, b"a@x.org",
         b"Subject: hi\r\nX-Spam-Flag: YES\r\n\r\nhello\r\n")
    t = TcpConn(cap, cport=40002, sport=23)
    t.handshake()
    t.data(S, b"login: ")
    t.data(C, b"root")
    t.close()
    t = TcpConn(cap, cport=40003)
    t.addr[C] = "10.0.0.66"
    t.send(C, SYN, options=MSS_1460)
    t = TcpConn(cap, cport=40004, sport=80)
    t.send(C, SYN | FIN)
    return cap


def all_captures():
    caps = [out_of_order(), retransmit_diff(), one_byte_segments(),
            missing_segment(), rst_middle(), data_after_close(),
            no_handshake()]
    caps += link_cases()
    caps += [frag_overlap_diff(), frag_simple(), frag_incomplete(),
             bad_checksum(), non_ipv4(), malformed()]
    caps += [smtp_gap_partial_line(), smtp_gap_bdat_last(),
             smtp_mail_pieces(), smtp_memcap(), docs_examples()]
    return caps


def main(argv):
    root = os.path.dirname(os.path.abspath(__file__))
    caps = all_captures()
    if argv[1:] == ["--list"]:
        print("\n\n".join(c.listing() for c in caps))
        return 0
    if argv[1:]:
        sys.stderr.write("usage: craft.py [--list]\n")
        return 2
    for c in caps:
        c.write(root)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
