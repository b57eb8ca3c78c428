"""``python -m wsfast run uvicorn app:app``: a real uvicorn process serves real clients on wsfast.

The recipe of docs/compatibility.md, as a user runs it from the command line: uvicorn imports
its WebSocket implementation before the app module, so the install must come first, and
``--workers`` children (multiprocessing's spawn) must get it too. The uvicorn venv is the one
tests/interop/test_uvicorn_suite.py makes (the real websockets 17.4 is installed in it: it must not
be the one that serves). The clients are websockets 17.4's and a raw socket.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from test_uvicorn_suite import DROPPED_ENV, cache_dir, install_uvicorn, unavailable, wsfast_shim
from websockets_support import needs_websockets

pytestmark = pytest.mark.slow

START_TIMEOUT = 60
STOP_TIMEOUT = 30

# Reports which websockets serves it, then echoes; one process per worker.
APP = '''\
import os
import sys


async def app(scope, receive, send):
    if scope["type"] != "websocket":
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    import websockets
    import json
    await send({"type": "websocket.send", "text": json.dumps({
        "pid": os.getpid(),
        "version": websockets.__version__,
        "server_module": sys.modules["websockets.server"].__name__,
        "protocol": type(scope.get("extensions")).__name__,
        "user_agent": dict(scope["headers"]).get(b"user-agent", b"").decode("latin-1"),
    })})
    while True:
        message = await receive()
        if message["type"] != "websocket.receive":
            return
        await send({"type": "websocket.send", **{k: v for k, v in message.items() if k != "type"}})
'''


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port, process, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.1)
    return False


@pytest.fixture(scope="module")
def uvicorn_python():
    python, source, _ = install_uvicorn(cache_dir())
    if python is None:
        unavailable(source)
    return python


@pytest.fixture(params=["cython", "python"])
def implementation(request):
    if request.param == "cython":
        try:
            import wsfast._speedups  # noqa: F401
        except ImportError as exc:
            pytest.skip(f"wsfast._speedups is not importable: {exc}")
    return request.param


def start_uvicorn(python, tmp_path, implementation, port, *options):
    (tmp_path / "wsapp.py").write_text(APP)
    shim = wsfast_shim(tmp_path / "shim")
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
    env["PYTHONPATH"] = os.pathsep.join([str(shim), str(tmp_path)])
    if implementation == "python":
        env["WSFAST_NO_EXTENSIONS"] = "1"
    command = [
        str(python), "-m", "wsfast", "run", "uvicorn", "wsapp:app",
        "--ws", "websockets-sansio", "--host", "127.0.0.1", "--port", str(port), *options,
    ]
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )
    if not wait_for_port(port, process, START_TIMEOUT):
        process.kill()
        output, _ = process.communicate(timeout=STOP_TIMEOUT)
        pytest.fail(f"uvicorn didn't start:\n{output}")
    return process


def stop(process):
    process.send_signal(signal.SIGINT)
    try:
        output, _ = process.communicate(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate(timeout=STOP_TIMEOUT)
        pytest.fail(f"uvicorn didn't shut down within {STOP_TIMEOUT} s:\n{output}")
    return output


async def talk(port, **options):
    from websockets.asyncio.client import connect

    async with connect(f"ws://127.0.0.1:{port}/", **options) as websocket:
        info = json.loads(await websocket.recv())
        await websocket.send("hello")
        assert await websocket.recv() == "hello"
        await websocket.send(b"\x00\xff" * 4096)
        assert await websocket.recv() == b"\x00\xff" * 4096
        return info


@needs_websockets
def test_uvicorn_from_the_command_line_serves_on_wsfast(uvicorn_python, tmp_path, implementation):
    port = free_port()
    process = start_uvicorn(uvicorn_python, tmp_path, implementation, port)
    try:
        info = asyncio.run(talk(port, user_agent_header="clé/1.0 (ünïcode)"))
        # A raw handshake whose User-Agent is non-ASCII UTF-8 gets its 101 (cause 1 of the
        # issue: with wsfast's old version number uvicorn dropped it without a response).
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(
                b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                b"Sec-WebSocket-Version: 13\r\nUser-Agent: caf\xc3\xa9\r\n\r\n"
            )
            assert sock.recv(4096).startswith(b"HTTP/1.1 101 ")
    finally:
        output = stop(process)
    assert info["version"] == "17.4"
    assert info["server_module"] == "wsfast.server", info
    assert info["user_agent"] == "clé/1.0 (ünïcode)"
    assert output.startswith("wsfast: websockets resolves to wsfast "), output
    assert f"({implementation})" in output.splitlines()[0]
    assert "Traceback" not in output, output


@needs_websockets
def test_uvicorn_workers_run_on_wsfast(uvicorn_python, tmp_path):
    port = free_port()
    process = start_uvicorn(uvicorn_python, tmp_path, "cython", port, "--workers", "2")
    try:
        seen = {}
        deadline = time.monotonic() + START_TIMEOUT
        # The kernel spreads connections over the two workers; a few suffice to meet both.
        while len(seen) < 2 and time.monotonic() < deadline:
            info = asyncio.run(talk(port))
            seen[info["pid"]] = info
    finally:
        output = stop(process)
    assert len(seen) == 2, (seen, output)
    assert process.pid not in seen  # workers, not the supervisor
    for info in seen.values():
        assert (info["version"], info["server_module"]) == ("17.4", "wsfast.server"), info
