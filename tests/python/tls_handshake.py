"""Checks certificates from `movieapp certs init` with an independent TLS stack (OpenSSL,
through Python's ssl module): a server with server.crt/server.key that requires a client
certificate signed by ca.crt, and clients that trust ca.crt.

usage: tls_handshake.py CERT_DIR OTHER_CERT_DIR
Prints one line per check; exits non-zero on the first failure.
"""

import os
import socket
import ssl
import sys
import threading

cert_dir, other_dir = sys.argv[1], sys.argv[2]
path = lambda d, name: os.path.join(d, name)

server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
server_ctx.load_cert_chain(path(cert_dir, "server.crt"), path(cert_dir, "server.key"))
server_ctx.load_verify_locations(path(cert_dir, "ca.crt"))
server_ctx.verify_mode = ssl.CERT_REQUIRED

listener = socket.create_server(("127.0.0.1", 0))
port = listener.getsockname()[1]


def serve():
    while True:
        conn, _ = listener.accept()
        try:
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(b"ok")
        except (ssl.SSLError, OSError):
            pass


threading.Thread(target=serve, daemon=True).start()


def connect(ca_dir, client_dir, host):
    ctx = ssl.create_default_context(cafile=path(ca_dir, "ca.crt"))
    if client_dir:
        ctx.load_cert_chain(path(client_dir, "client.crt"), path(client_dir, "client.key"))
    with socket.create_connection(("127.0.0.1", port)) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as tls:
            return tls.recv(2)


def expect(what, ok, call):
    try:
        got = call()
        passed = ok and got == b"ok"
        detail = got
    except (ssl.SSLError, OSError) as e:
        passed = not ok
        detail = e
    if not passed:
        sys.exit(f"FAIL {what}: {detail}")
    print(f"ok {what}")


expect("mutual TLS for localhost", True, lambda: connect(cert_dir, cert_dir, "localhost"))
expect("mutual TLS for 127.0.0.1", True, lambda: connect(cert_dir, cert_dir, "127.0.0.1"))
expect("a name the certificate does not cover", False,
       lambda: connect(cert_dir, cert_dir, "example.com"))
expect("a client trusting another CA", False, lambda: connect(other_dir, cert_dir, "localhost"))
expect("a client certificate from another CA", False,
       lambda: connect(cert_dir, other_dir, "localhost"))
