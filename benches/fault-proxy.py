#!/usr/bin/env python3
"""fault-proxy.py - an HTTP forwarder that answers 503 to every Nth request.

usage: fault-proxy.py LISTEN_PORT UPSTREAM_HOST:PORT [N]

For benches/registry.sh: the fault a busy registry or load balancer gives
(one request in N refused with 503 Service Unavailable), in front of the
loopback registry. Every other request is forwarded as it is, one request per
connection, the body streamed both ways. A TLS ClientHello is answered like a
plain HTTP server answers it (400), at once.
"""
import socket
import sys
import threading

count = 0
lock = threading.Lock()
UNAVAILABLE = b'{"errors":[{"code":"UNAVAILABLE","message":"service unavailable"}]}'


def pump(src, dst):
    try:
        while True:
            b = src.recv(65536)
            if not b:
                break
            dst.sendall(b)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def answer(c, status, reason, body):
    c.sendall(
        b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
        b"Connection: close\r\n\r\n%s" % (status, reason, len(body), body)
    )
    c.close()


def serve(c, upstream, every):
    global count
    buf = b""
    while b"\r\n\r\n" not in buf:
        b = c.recv(65536)
        if not b:
            c.close()
            return
        if not buf and b[:1] == b"\x16":
            answer(c, 400, b"Bad Request", b"")
            return
        buf += b
    head, rest = buf.split(b"\r\n\r\n", 1)
    with lock:
        count += 1
        n = count
    if every and n % every == 0:
        answer(c, 503, b"Service Unavailable", UNAVAILABLE)
        return
    lines = [l for l in head.split(b"\r\n") if not l.lower().startswith(b"connection:")]
    lines.append(b"Connection: close")
    host, port = upstream.rsplit(":", 1)
    up = socket.create_connection((host, int(port)))
    up.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + rest)
    t = threading.Thread(target=pump, args=(c, up), daemon=True)
    t.start()
    pump(up, c)
    c.close()
    up.close()


def main():
    port, upstream = int(sys.argv[1]), sys.argv[2]
    every = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(64)
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c, upstream, every), daemon=True).start()


if __name__ == "__main__":
    main()
