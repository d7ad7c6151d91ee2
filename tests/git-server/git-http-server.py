#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Smart HTTP git server for the unit tests: `git http-backend` behind http.server.

Usage: git-http-server.py ROOT
Listens on a free port of 127.0.0.1, prints "PORT <n>" on stdout, and exits when its stdin
is closed (so it never outlives the test that started it). Paths:
  /<repo>/...         served by git http-backend from ROOT
  /slow/<repo>/...    the same, but response bodies trickle out (4 KiB every 50 ms)
  /stall/...          the connection is accepted and never answered
  /auth/...           401 with a Basic challenge, as for a private repository
"""

import http.server
import os
import subprocess
import sys
import threading
import time

ROOT = None
BACKEND = '/usr/lib/git-core/git-http-backend'


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, format, *args):
        if os.environ.get('GIT_SERVER_DEBUG'):
            sys.stderr.write('git-http-server: ' + (format % args) + '\n')

    def read_body(self):
        if self.headers.get('Transfer-Encoding', '').lower() == 'chunked':
            body = b''
            while True:
                size = int(self.rfile.readline().split(b';')[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b'\r\n', b'\n', b''):
                        pass
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get('Content-Length') or 0)
        return self.rfile.read(length) if length else b''

    def respond(self, status, headers, body, slow=False):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        if not slow:
            self.wfile.write(body)
            return
        for i in range(0, len(body), 4096):
            if i:
                time.sleep(0.05)
            self.wfile.write(body[i:i + 4096])
            self.wfile.flush()

    def handle_git(self):
        path, _, query = self.path.partition('?')
        if path.startswith('/stall/'):
            while True:
                time.sleep(3600)
        body = self.read_body() if self.command == 'POST' else b''
        if path.startswith('/auth/'):
            self.respond(401, [('WWW-Authenticate', 'Basic realm="private"')], b'private\n')
            return
        slow = path.startswith('/slow/')
        if slow:
            path = path[len('/slow'):]

        env = {
            'PATH': os.environ.get('PATH', '/usr/bin:/bin'),
            'GIT_PROJECT_ROOT': ROOT,
            'GIT_HTTP_EXPORT_ALL': '1',
            'GIT_CONFIG_NOSYSTEM': '1',
            'HOME': ROOT,
            'REQUEST_METHOD': self.command,
            'PATH_INFO': path,
            'QUERY_STRING': query,
            'REMOTE_ADDR': self.client_address[0],
            'CONTENT_TYPE': self.headers.get('Content-Type', ''),
            'CONTENT_LENGTH': str(len(body)),
            'GATEWAY_INTERFACE': 'CGI/1.1',
            'SERVER_PROTOCOL': 'HTTP/1.1',
        }
        for header, var in (('Content-Encoding', 'HTTP_CONTENT_ENCODING'),
                            ('Git-Protocol', 'HTTP_GIT_PROTOCOL')):
            if self.headers.get(header):
                env[var] = self.headers[header]

        out = subprocess.run([BACKEND], input=body, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, check=False).stdout
        head, sep, payload = out.partition(b'\r\n\r\n')
        if not sep:
            head, sep, payload = out.partition(b'\n\n')
        status, headers = 200, []
        for line in head.decode('latin-1').splitlines():
            name, _, value = line.partition(':')
            if name.lower() == 'status':
                status = int(value.split()[0])
            elif name:
                headers.append((name.strip(), value.strip()))
        self.respond(status, headers, payload, slow=slow)

    do_GET = handle_git
    do_POST = handle_git


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # Clients that give up (size caps, timeouts) reset their connections: not news.
        pass


def main():
    global ROOT
    ROOT = os.path.abspath(sys.argv[1])
    server = Server(('127.0.0.1', 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdout.write('PORT %d\n' % server.server_address[1])
    sys.stdout.flush()
    sys.stdin.buffer.read()
    os._exit(0)


if __name__ == '__main__':
    main()
