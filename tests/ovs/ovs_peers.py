"""Servers and clients that run *inside* the lab's namespaces (``ip netns exec NS python3 ovs_peers.py ...``).

Standard library only, so it runs under any ``python3``. Every server exits by
itself after ``--lifetime`` seconds; every client has socket timeouts.

Commands::

    serve [--tcp PORT]... [--udp PORT]... [--http PORT]... [--lifetime S] [--pace B/s]
        TCP: read an 8-byte big-endian reply size, read the request until the
        client shuts down its side, answer with that many bytes, close.
        UDP: answer DNS queries (one A record, 10.128.0.99) -- a DNS-like exchange on 53.
        HTTP: ``GET /bytes/N`` answers N bytes (HTTP/1.0, one request per connection).
        Prints ``ready`` once every socket is bound.
    tcp HOST PORT --send N --reply M [--count K] [--pace B/s]
    dns HOST PORT --name NAME [--count K]

Clients print one JSON line: what they sent and received.
"""

from __future__ import annotations

import argparse
import json
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TIMEOUT = 15.0
CHUNK = 65536
SO_MAX_PACING_RATE = 47  # linux/asm-generic/socket.h; TCP paces itself without fq since 4.13
PACE = 0  # bytes/s for sockets this process sends bulk on (0: no limit)


def _pace(sock: socket.socket) -> None:
    """Limit how fast `sock` sends, so the userspace bridge is not overrun (it drops, not queues)."""
    if PACE:
        sock.setsockopt(socket.SOL_SOCKET, SO_MAX_PACING_RATE, PACE)


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _listener(kind: int, port: int) -> socket.socket:
    """A dual-stack socket on [::]:port (falls back to 0.0.0.0 without IPv6)."""
    try:
        s = socket.socket(socket.AF_INET6, kind)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        addr: tuple[str, int] = ("::", port)
    except OSError:
        s = socket.socket(socket.AF_INET, kind)
        addr = ("0.0.0.0", port)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(addr)
    return s


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _tcp_conn(conn: socket.socket) -> None:
    with conn:
        conn.settimeout(TIMEOUT)
        _pace(conn)
        head = _recv_exact(conn, 8)
        if len(head) < 8:
            return
        (reply,) = struct.unpack("!Q", head)
        while conn.recv(CHUNK):
            pass
        payload = b"x" * min(reply, CHUNK)
        left = reply
        while left > 0:
            n = conn.send(payload[: min(left, len(payload))])
            left -= n
        conn.shutdown(socket.SHUT_WR)
        # wait for the client's FIN so the close is orderly (no RST)
        while conn.recv(CHUNK):
            pass


def _tcp_server(sock: socket.socket) -> None:
    sock.listen(64)
    while True:
        conn, _ = sock.accept()
        threading.Thread(target=_tcp_conn, args=(conn,), daemon=True).start()


def dns_query(name: str, qid: int) -> bytes:
    """A standard DNS query (recursion desired) for `name`, type A, class IN."""
    q = b"".join(bytes([len(p)]) + p.encode() for p in name.strip(".").split(".")) + b"\x00"
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + q + struct.pack("!HH", 1, 1)


def _dns_answer(query: bytes) -> bytes:
    qid = struct.unpack("!H", query[:2])[0]
    question = query[12:]
    answer = struct.pack("!HHHIH", 0xC00C, 1, 1, 30, 4) + socket.inet_aton("10.128.0.99")
    return struct.pack("!HHHHHH", qid, 0x8180, 1, 1, 0, 0) + question + answer


def _udp_server(sock: socket.socket) -> None:
    while True:
        data, peer = sock.recvfrom(CHUNK)
        if len(data) >= 12:
            sock.sendto(_dns_answer(data), peer)


class _Handler(BaseHTTPRequestHandler):
    server_version = "flowlab-lab/1"

    def setup(self) -> None:
        super().setup()
        _pace(self.connection)

    def do_GET(self) -> None:
        try:
            n = int(self.path.rsplit("/", 1)[-1])
        except ValueError:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(n))
        self.end_headers()
        payload = b"m" * min(n, CHUNK)
        left = n
        while left > 0:
            chunk = payload[: min(left, len(payload))]
            self.wfile.write(chunk)
            left -= len(chunk)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _DualStackHTTPServer(ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def serve(args: argparse.Namespace) -> int:
    threads = []
    for port in args.tcp:
        threads.append(
            threading.Thread(target=_tcp_server, args=(_listener(socket.SOCK_STREAM, port),))
        )
    for port in args.udp:
        threads.append(
            threading.Thread(target=_udp_server, args=(_listener(socket.SOCK_DGRAM, port),))
        )
    for port in args.http:
        httpd = _DualStackHTTPServer(("::", port), _Handler)
        threads.append(threading.Thread(target=httpd.serve_forever))
    for t in threads:
        t.daemon = True
        t.start()
    print("ready", flush=True)
    time.sleep(args.lifetime)
    return 0


def tcp_client(args: argparse.Namespace) -> int:
    got = []
    for _ in range(args.count):
        with socket.socket(_family(args.host), socket.SOCK_STREAM) as s:
            s.settimeout(TIMEOUT)
            _pace(s)
            s.connect((args.host, args.port))
            s.sendall(struct.pack("!Q", args.reply))
            left = args.send
            payload = b"r" * min(max(left, 1), CHUNK)
            while left > 0:
                n = s.send(payload[: min(left, len(payload))])
                left -= n
            s.shutdown(socket.SHUT_WR)
            total = 0
            while True:
                chunk = s.recv(CHUNK)
                if not chunk:
                    break
                total += len(chunk)
            got.append(total)
    print(json.dumps({"sent": args.send, "received": got}))
    return 0 if all(g == args.reply for g in got) else 1


def dns_client(args: argparse.Namespace) -> int:
    answers = 0
    with socket.socket(_family(args.host), socket.SOCK_DGRAM) as s:
        s.settimeout(TIMEOUT)
        s.connect((args.host, args.port))
        for i in range(args.count):
            s.send(dns_query(args.name, 0x1000 + i))
            reply = s.recv(CHUNK)
            answers += struct.unpack("!H", reply[6:8])[0]
            time.sleep(0.01)
    print(json.dumps({"queries": args.count, "answers": answers}))
    return 0 if answers == args.count else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="ovs_peers")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--tcp", type=int, action="append", default=[])
    s.add_argument("--udp", type=int, action="append", default=[])
    s.add_argument("--http", type=int, action="append", default=[])
    s.add_argument("--lifetime", type=float, default=300.0)
    c = sub.add_parser("tcp")
    c.add_argument("host")
    c.add_argument("port", type=int)
    c.add_argument("--send", type=int, default=0)
    c.add_argument("--reply", type=int, default=0)
    c.add_argument("--count", type=int, default=1)
    d = sub.add_parser("dns")
    d.add_argument("host")
    d.add_argument("port", type=int)
    d.add_argument("--name", default="prometheus-k8s.openshift-monitoring.svc.cluster.local")
    d.add_argument("--count", type=int, default=1)
    for sp in (s, c):
        sp.add_argument("--pace", type=int, default=0, help="max send rate, bytes/s")
    args = p.parse_args(argv)
    global PACE
    PACE = getattr(args, "pace", 0)
    return {"serve": serve, "tcp": tcp_client, "dns": dns_client}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
