#!/usr/bin/python3
"""Writes the seed corpus of fuzz_engine (tests/fuzz/fuzz_engine.c) into
tests/fuzz/corpus/engine/: whole SMTP sessions in its record format.
Run again after changing the format; the seeds are committed."""
import os

SYN, ACK, FIN, RST, PSH, FRAG = 0x02, 0x04, 0x08, 0x10, 0x20, 0x40
CLI, SRV = 0, 1


def seg(direction, flags, payload=b"", seq=0, split=None):
    out = bytes([direction | flags | (FRAG if split is not None else 0),
                 seq & 0xff])
    out += bytes([len(payload)])
    if split is not None:
        out += bytes([split])
    return out + payload


def lines(direction, text, split=None):
    """One segment per 255 bytes of text."""
    out = b""
    data = text.encode()
    while data:
        out += seg(direction, ACK | PSH, data[:255], split=split)
        data = data[255:]
    return out


HANDSHAKE = seg(CLI, SYN) + seg(SRV, SYN | ACK) + seg(CLI, ACK)
CLOSE = seg(CLI, FIN | ACK) + seg(SRV, FIN | ACK) + seg(CLI, ACK)


def session(mail_from, body, split=None, extra=b""):
    return (HANDSHAKE
            + lines(SRV, "220 mx.example.com ESMTP\r\n")
            + lines(CLI, "EHLO client.example.com\r\n", split)
            + lines(SRV, "250-mx.example.com\r\n250-PIPELINING\r\n"
                         "250-8BITMIME\r\n250 SIZE 10240000\r\n")
            + lines(CLI, "MAIL FROM:<%s>\r\n" % mail_from, split)
            + lines(SRV, "250 2.1.0 Ok\r\n")
            + lines(CLI, "RCPT TO:<bob@example.com>\r\n")
            + lines(SRV, "250 2.1.5 Ok\r\n")
            + lines(CLI, "DATA\r\n")
            + lines(SRV, "354 End data with <CR><LF>.<CR><LF>\r\n")
            + lines(CLI, body, split)
            + lines(SRV, "250 2.0.0 Ok: queued as 12345\r\n")
            + extra
            + lines(CLI, "QUIT\r\n")
            + lines(SRV, "221 2.0.0 Bye\r\n")
            + CLOSE)


BODY = ("Subject: hello\r\nFrom: alice@example.com\r\n\r\n"
        "Hi Bob,\r\n..a stuffed dot\r\nbye\r\n.\r\n")
SEEDS = {
    "clean": session("alice@example.com", BODY),
    "drop_command": session("drop@example.com", BODY),
    "reset_command": session("reset@example.com", BODY),
    "drop_content": session("alice@example.com",
                            "Subject: x\r\n\r\nplease drop me\r\n.\r\n"),
    "fragmented": session("alice@example.com", BODY, split=1),
    "fragments_reversed": session("alice@example.com", BODY, split=0x81),
    "retransmit_overlap": (HANDSHAKE
                           + lines(SRV, "220 mx ESMTP\r\n")
                           + seg(CLI, ACK | PSH, b"EHLO a\r\n")
                           + seg(CLI, ACK | PSH, b"EHLO b\r\nMAIL",
                                 seq=-8)
                           + seg(CLI, ACK | PSH, b" FROM:<x@y>\r\n")
                           + CLOSE),
    "gap_and_timeout": (HANDSHAKE
                        + lines(SRV, "220 mx ESMTP\r\n")
                        + seg(CLI, ACK | PSH, b"HELO a\r\n", seq=20)
                        + bytes([0xfe, 30])
                        + seg(CLI, ACK | PSH, b"QUIT\r\n")),
    "server_reset": (HANDSHAKE + lines(SRV, "220 mx ESMTP\r\n")
                     + seg(SRV, RST | ACK)),
    "raw_packet": (bytes([0xff, 0, 40])
                   + bytes.fromhex("450000280001000040060000"
                                   "0a0000010a000002"
                                   "9c400019000003e800000000"
                                   "50020000ffff0000")
                   + HANDSHAKE),
}

if __name__ == "__main__":
    d = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                     "corpus", "engine")
    os.makedirs(d, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
