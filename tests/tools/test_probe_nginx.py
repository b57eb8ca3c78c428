"""The probe through a real nginx reverse proxy, with and without the WebSocket lines.

nginx (Debian package ``nginx``) is started by the test on 127.0.0.1, in the foreground
(``daemon off``) and as one process (``master_process off``, so no user switch and no
worker to reap), with a configuration, pid file, logs and temporary directories written
to the test's own directory. Without the three lines ``proxy_http_version 1.1;
proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection "upgrade";`` nginx
speaks HTTP/1.0 to the upstream and drops the hop-by-hop headers (RFC 9110 §7.6.1): the
wsfast server behind it refuses the handshake, and the probe must name the proxy and
print the nginx lines. The tests skip, saying why, when there is no nginx binary.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest
from test_probe import free_port, wsfast_server

from wsfast.probe import probe

TIMEOUT = 30


def find_nginx():
    found = shutil.which("nginx")
    if found is None:
        # /usr/sbin isn't on every user's PATH.
        found = next((path for path in ("/usr/sbin/nginx", "/usr/local/sbin/nginx",
                                        "/usr/local/nginx/sbin/nginx")
                      if os.access(path, os.X_OK)), None)
    return found


NGINX = find_nginx()

requires_nginx = pytest.mark.skipif(
    NGINX is None,
    reason="no nginx binary on PATH or in /usr/sbin (install the Debian package: "
           "apt-get install -y nginx)",
)

pytestmark = [requires_nginx, pytest.mark.usefixtures("no_error_logs")]

# The lines the probe must print, and that the forwarding configuration uses.
NGINX_WEBSOCKET_LINES = (
    "proxy_http_version 1.1;",
    "proxy_set_header Upgrade $http_upgrade;",
    'proxy_set_header Connection "upgrade";',
)


def nginx_configuration(directory, http_block):
    """A complete nginx.conf that keeps every file under ``directory``."""
    return textwrap.dedent(f"""\
        daemon off;
        master_process off;
        worker_processes 1;
        pid {directory / 'nginx.pid'};
        error_log {directory / 'error.log'} info;
        events {{
            worker_connections 256;
        }}
        http {{
            access_log {directory / 'access.log'};
            client_body_temp_path {directory / 'client_body'};
            proxy_temp_path {directory / 'proxy'};
            fastcgi_temp_path {directory / 'fastcgi'};
            uwsgi_temp_path {directory / 'uwsgi'};
            scgi_temp_path {directory / 'scgi'};
        """) + textwrap.indent(http_block, "    ") + "}\n"


class Nginx:
    """nginx in the foreground; ``http_block`` says ``LISTEN_PORT`` where its port goes.

    Used as a context manager: entering starts it on a free port of 127.0.0.1 and waits
    until it accepts connections; leaving stops it (SIGQUIT, a graceful shutdown).
    """

    def __init__(self, directory, http_block):
        self.directory = directory
        self.http_block = http_block
        self.process = None
        self.port = None

    def __enter__(self):
        # A free port may be taken between the check and nginx's bind: try a few.
        for _ in range(3):
            self.port = free_port()
            configuration = self.directory / "nginx.conf"
            configuration.write_text(nginx_configuration(
                self.directory, self.http_block.replace("LISTEN_PORT", str(self.port))
            ))
            self.process = subprocess.Popen(
                # -e: the error log to use before the configuration is read (the default,
                # /var/log/nginx/error.log, may not be writable).
                [NGINX, "-p", str(self.directory), "-c", str(configuration),
                 "-e", str(self.directory / "error.log")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            if self._wait_listening():
                return self
            self.__exit__(None, None, None)
        raise AssertionError(f"nginx did not start:\n{self.error_log()}")

    def _wait_listening(self):
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                time.sleep(0.05)
        return False

    def error_log(self):
        path = self.directory / "error.log"
        return path.read_text() if path.exists() else ""

    def __exit__(self, *exc_info):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(TIMEOUT)


def upstream_block(ports, balancing=""):
    """An upstream group named wsfast_backend over wsfast servers on 127.0.0.1."""
    servers = "".join(f"    server 127.0.0.1:{port};\n" for port in ports)
    return f"upstream wsfast_backend {{\n{balancing}{servers}}}\n"


FORWARDING = """\
server {
    listen 127.0.0.1:LISTEN_PORT;
    location / {
        proxy_pass http://wsfast_backend;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
        proxy_set_header Host $host;
    }
}
"""

# nginx's defaults: HTTP/1.0 to the upstream, Upgrade dropped, "Connection: close".
NOT_FORWARDING = """\
server {
    listen 127.0.0.1:LISTEN_PORT;
    location / {
        proxy_pass http://wsfast_backend;
        proxy_set_header Host $host;
    }
}
"""

# Half-fixed: HTTP/1.1 to the upstream, still without Upgrade and Connection.
HTTP11_ONLY = NOT_FORWARDING.replace(
    "proxy_pass http://wsfast_backend;\n",
    "proxy_pass http://wsfast_backend;\n        proxy_http_version 1.1;\n",
)


@pytest.fixture
def nginx_proxy(tmp_path):
    """start(server_block) runs nginx with that block in front of a wsfast echo server."""
    with contextlib.ExitStack() as stack:

        def start(server_block):
            upstream = stack.enter_context(wsfast_server())
            return stack.enter_context(
                Nginx(tmp_path, upstream_block([upstream]) + server_block)
            )

        yield start


def run_probe(*arguments):
    environment = {name: value for name, value in os.environ.items()
                   if not name.lower().endswith("_proxy")}
    return subprocess.run([sys.executable, "-m", "wsfast", "probe", *arguments], check=False,
                          capture_output=True, text=True, timeout=TIMEOUT, env=environment)


def test_nginx_forwarding_the_upgrade_connects(nginx_proxy):
    nginx = nginx_proxy(FORWARDING)
    result = run_probe(f"ws://127.0.0.1:{nginx.port}/chat")
    assert result.returncode == 0, result.stdout + result.stderr + nginx.error_log()
    assert "Verdict: CONNECTED" in result.stdout
    assert "< Server: nginx" in result.stdout


def test_nginx_forwarding_carries_messages(nginx_proxy):
    """Not just the handshake: frames flow both ways through nginx's tunnel."""
    import asyncio

    from wsfast.asyncio.client import connect

    nginx = nginx_proxy(FORWARDING)

    async def exchange():
        async with connect(f"ws://127.0.0.1:{nginx.port}/", proxy=None,
                           open_timeout=TIMEOUT) as websocket:
            await websocket.send("through nginx")
            return await asyncio.wait_for(websocket.recv(), TIMEOUT)

    assert asyncio.run(asyncio.wait_for(exchange(), TIMEOUT)) == "through nginx"


@pytest.mark.parametrize(
    ("configuration", "upstream_status"),
    [(NOT_FORWARDING, 505), (HTTP11_ONLY, 426)],
    ids=["nginx-defaults", "http11-without-upgrade-headers"],
)
def test_nginx_not_forwarding_the_upgrade(nginx_proxy, configuration, upstream_status):
    nginx = nginx_proxy(configuration)
    url = f"ws://127.0.0.1:{nginx.port}/"

    result = run_probe(url)
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    # The response relayed by nginx, then the proxy named as the first cause, with the
    # nginx lines to add, and the Apache and HAProxy equivalents.
    assert f"    < HTTP/1.1 {upstream_status} " in out
    assert "    < Server: nginx" in out
    assert "1. A reverse proxy is not forwarding the WebSocket upgrade [proxy-drops-upgrade" \
        in out
    for line in NGINX_WEBSOCKET_LINES:
        assert f"        {line}" in out
    assert "upgrade=websocket" in out and "HAProxy" in out
    assert "Raising a timeout: the failure is immediate" in out

    document = json.loads(run_probe(url, "--json").stdout)
    assert document["status"] == upstream_status
    assert document["causes"][0]["id"] == "proxy-drops-upgrade"
    (server,) = [value for name, value in document["response"]["headers"] if name == "Server"]
    assert server.startswith("nginx/")

    report = probe(url, proxy=None, timeout=TIMEOUT)
    assert report.causes[0].cause.id == "proxy-drops-upgrade"
    assert "Server: nginx" in report.causes[0].root_cause


def test_plain_request_to_nginx_tls_port(tmp_path):
    """nginx answers a plain request on a TLS port with its own 400; the probe reads it,
    confirms with a TLS handshake on the same port, and says to use wss://."""
    import trustme

    pem = tmp_path / "server.pem"
    trustme.CA().issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(pem)
    block = (
        "server {\n"
        "    listen 127.0.0.1:LISTEN_PORT ssl;\n"
        f"    ssl_certificate {pem};\n"
        f"    ssl_certificate_key {pem};\n"
        '    location / { return 200 "TLS site\\n"; }\n'
        "}\n"
    )
    with Nginx(tmp_path, block) as nginx:
        report = probe(f"ws://127.0.0.1:{nginx.port}/", proxy=None, timeout=TIMEOUT)
    assert report.evidence.response.status == 400
    assert "plain HTTP request was sent to HTTPS port" in report.evidence.response.body_text
    assert report.evidence.follow_up.transport == "tls"
    assert report.causes[0].cause.id == "plain-to-tls-port", report.render_text()
    assert f"wss://127.0.0.1:{nginx.port}/" in report.causes[0].workarounds[0]
