"""Deployment beyond one process, as the README's "Deployment" section describes it.

* Several worker processes run ``serve(..., reuse_port=True)`` on one port: the kernel
  (Linux SO_REUSEPORT) spreads incoming connections over them, and each accepts some.
* nginx load-balances several wsfast servers with an ``upstream`` group, round-robin and,
  for sticky sessions, ``ip_hash``; skipped without nginx (see test_probe_nginx.py).

Each server says who it is in its first message, so the test sees where connections land.
Everything binds 127.0.0.1; connection counts and waits are bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys

import pytest
from test_cli import read_line
from test_probe import wsfast_server
from test_probe_nginx import Nginx, requires_nginx, upstream_block

from wsfast.asyncio.client import connect

TIMEOUT = 30
WORKERS = 3
MAX_CONNECTIONS = 200

pytestmark = pytest.mark.usefixtures("no_error_logs")

# A worker process, as a deployment would run several: serve() with reuse_port=True,
# telling each client its pid, until SIGTERM.
WORKER = """
import asyncio, os, signal, sys
from wsfast.asyncio.server import serve

async def whoami(websocket):
    await websocket.send(str(os.getpid()))
    async for _ in websocket:
        pass

async def main(port):
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    async with serve(whoami, "127.0.0.1", port, reuse_port=True):
        print("ready", flush=True)
        await stop

asyncio.run(main(int(sys.argv[1])))
"""


async def identities(url, count, stop_when_seen=None):
    """Open up to ``count`` connections one after the other; return who answered each."""
    seen = []
    for _ in range(count):
        async with connect(url, proxy=None, open_timeout=TIMEOUT) as websocket:
            seen.append(await asyncio.wait_for(websocket.recv(), TIMEOUT))
        if stop_when_seen is not None and set(seen) >= stop_when_seen:
            break
    return seen


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, TIMEOUT))


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="no SO_REUSEPORT here")
def test_reuse_port_workers_share_one_port():
    # Hold the port with SO_REUSEPORT (bound, not listening: it gets no connections) so that
    # nothing else takes it while the workers start.
    reservation = socket.socket()
    reservation.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    reservation.bind(("127.0.0.1", 0))
    port = reservation.getsockname()[1]
    environment = {name: value for name, value in os.environ.items()
                   if not name.lower().endswith("_proxy")}
    with contextlib.ExitStack() as stack:
        stack.callback(reservation.close)
        workers = []
        for _ in range(WORKERS):
            worker = subprocess.Popen([sys.executable, "-c", WORKER, str(port)],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      env=environment)
            stack.callback(stop_worker, worker)
            workers.append(worker)
        for worker in workers:
            assert read_line(worker.stdout, TIMEOUT) == "ready\n"
        reservation.close()

        pids = {str(worker.pid) for worker in workers}
        seen = run(identities(f"ws://127.0.0.1:{port}/", MAX_CONNECTIONS, pids))
        # Every connection went to one of the workers, and every worker accepted some.
        assert set(seen) == pids, f"{len(seen)} connections reached {sorted(set(seen))}"


def stop_worker(worker):
    worker.send_signal(signal.SIGTERM)
    try:
        _, err = worker.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.communicate()
        raise
    assert worker.returncode == 0, err.decode()
    assert b"ERROR" not in err, err.decode()


# The nginx configuration of the README: an upstream group of wsfast servers; the map sends
# "Connection: upgrade" for WebSocket requests and "close" for plain HTTP ones.
LOAD_BALANCER = """\
map $http_upgrade $connection_upgrade {
    default upgrade;
    ''      close;
}
server {
    listen 127.0.0.1:LISTEN_PORT;
    location / {
        proxy_pass http://wsfast_backend;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
        proxy_set_header Host $host;
        proxy_read_timeout 1h;
    }
}
"""


@contextlib.contextmanager
def named_servers(count):
    """``count`` wsfast servers, each telling clients its own port; yields the ports."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            identity = {}

            async def tell_port(websocket, identity=identity):
                await websocket.send(str(identity["port"]))
                async for _ in websocket:
                    pass

            identity["port"] = stack.enter_context(wsfast_server(tell_port))
            ports.append(identity["port"])
        yield ports


@requires_nginx
def test_nginx_balances_over_wsfast_servers(tmp_path):
    with named_servers(WORKERS) as ports, \
            Nginx(tmp_path, upstream_block(ports) + LOAD_BALANCER) as nginx:
        seen = run(identities(f"ws://127.0.0.1:{nginx.port}/", 3 * WORKERS))
    # Round-robin: each server took its share of the connections.
    assert sorted(seen) == sorted(str(port) for port in ports * 3), seen


@requires_nginx
def test_nginx_sticky_sessions_with_ip_hash(tmp_path):
    with named_servers(WORKERS) as ports, \
            Nginx(tmp_path, upstream_block(ports, "    ip_hash;\n") + LOAD_BALANCER) as nginx:
        seen = run(identities(f"ws://127.0.0.1:{nginx.port}/", 2 * WORKERS))
    # One client address, one server: every connection of this client lands on it.
    assert len(set(seen)) == 1 and seen[0] in {str(port) for port in ports}, seen
