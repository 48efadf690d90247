#!/usr/bin/env python3
"""HTTP/2 requests to the gateway as python `h2` sends them, for tests/tests/head_limits.rs and
early_answers.rs.

    h2_request.py PORT CA_PEM PATH [--method M] [--headers N] [--body BYTES] [--tries N] [--no-length]

Sends TRIES requests one after another on one connection (each on its own stream), with N extra
header fields and a body of BYTES bytes (sent as fast as flow control allows, to its end even
after an early answer, unless the stream is reset). Outbound header validation is off, so `:path` may be anything (`*`).
Prints one JSON object: the status of each try (null when none came), and the status of one
GET / on the same connection afterwards (the connection's other streams keep working).
"""
import argparse
import json
import socket
import ssl

import h2.config
import h2.connection
import h2.events

parser = argparse.ArgumentParser()
parser.add_argument("port", type=int)
parser.add_argument("ca")
parser.add_argument("path")
parser.add_argument("--method", default="GET")
parser.add_argument("--headers", type=int, default=0)
parser.add_argument("--body", type=int, default=0)
parser.add_argument("--tries", type=int, default=1)
parser.add_argument("--no-length", action="store_true", help="send no content-length (a streamed body)")
args = parser.parse_args()

context = ssl.create_default_context(cafile=args.ca)
context.set_alpn_protocols(["h2"])
raw = socket.create_connection(("127.0.0.1", args.port), timeout=10)
raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
sock = context.wrap_socket(raw, server_hostname="localhost")
assert sock.selected_alpn_protocol() == "h2", sock.selected_alpn_protocol()
config = h2.config.H2Configuration(client_side=True, validate_outbound_headers=False,
                                   normalize_outbound_headers=False)
conn = h2.connection.H2Connection(config)
conn.initiate_connection()
sock.sendall(conn.data_to_send())


def request(method, path, extra_headers, body_size):
    """One request; its status, or None if the stream ended without one."""
    stream = conn.get_next_available_stream_id()
    headers = [(":method", method), (":path", path), (":scheme", "https"),
               (":authority", "localhost")]
    headers += [("x-extra-%d" % i, "v") for i in range(extra_headers)]
    if body_size and not args.no_length:
        headers.append(("content-length", str(body_size)))
    conn.send_headers(stream, headers, end_stream=body_size == 0)
    sock.sendall(conn.data_to_send())
    status, ended, answered, remaining = None, False, False, body_size
    while not ended and not (answered and remaining == 0):
        # Send what flow control allows while the stream is open.
        while remaining and not ended:
            try:
                window = min(conn.local_flow_control_window(stream), conn.max_outbound_frame_size)
            except Exception:  # the stream was closed (reset) by the server
                remaining = 0
                break
            if window <= 0:
                break
            chunk = min(window, remaining)
            remaining -= chunk
            conn.send_data(stream, b"x" * chunk, end_stream=remaining == 0)
            sock.sendall(conn.data_to_send())
        if answered and remaining == 0:
            break
        try:
            data = sock.recv(65536)
        except (socket.timeout, TimeoutError, ConnectionResetError, ssl.SSLError, OSError):
            break
        if not data:
            break
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.ResponseReceived) and event.stream_id == stream:
                status = int(dict(event.headers)[b":status"])
            elif isinstance(event, h2.events.StreamReset) and event.stream_id == stream:
                ended = True
            elif isinstance(event, h2.events.StreamEnded) and event.stream_id == stream:
                # An early answer: the rest of the body is still sent, as browsers do.
                answered = True
            elif isinstance(event, h2.events.DataReceived):
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.ConnectionTerminated):
                ended = True
        sock.sendall(conn.data_to_send())
    return status


statuses = [request(args.method, args.path, args.headers, args.body) for _ in range(args.tries)]
try:
    after = request("GET", "/", 0, 0)
except Exception:  # the connection is gone
    after = None
print(json.dumps({"statuses": statuses, "after": after}))
