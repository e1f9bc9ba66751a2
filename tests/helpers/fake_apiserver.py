"""A stand-in kube-apiserver for namespace tests: HTTPS on :6443, /readyz answers 200, / answers its name.

Usage: python fake_apiserver.py NAME CERT_PEM
"""

import http.server
import ssl
import sys

NAME, CERT = sys.argv[1], sys.argv[2]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"ok" if self.path.startswith("/readyz") else NAME.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("0.0.0.0", 6443), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(CERT)
server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
