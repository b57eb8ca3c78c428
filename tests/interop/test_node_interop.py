"""wsfast against node's ``ws`` (https://github.com/websockets/ws), a real peer in a subprocess.

* wsfast clients (asyncio and sync) against a ``ws`` echo server (tests/interop/node/server.js),
  started once for the module: ``WebSocketServer``s with permessage-deflate, without, and
  with every deflate parameter set.
* A scripted ``ws`` client (tests/interop/node/client.js) against wsfast servers (asyncio and
  sync); it prints a JSON report that the test checks, next to what the wsfast server saw.

Both sides speak the same small command protocol on top of echo (``cmd:ping:DATA``,
``cmd:close:CODE:REASON``, ``cmd:fragments``, ``cmd:extensions``; see server.js), so each
direction covers text (non-ASCII, empty), binary, messages of 1 MiB, fragmented messages
both ways, pings both ways, the closing handshake from either side with a code and a
reason, and a message over the receiver's max_size (1009); wsfast clients also see ws drop
the connection (1006). Each runs with permessage-deflate negotiated, declined by the peer,
and not offered or refused by wsfast; and the deflate parameters (no context takeover,
window bits 10 and 11) are asked for by either side, in both directions.

``ws`` is installed with npm into a cache directory outside the repository
(``$WSFAST_NODE_WS_CACHE``, default ``~/.cache/wsfast-node-ws``) from
tests/interop/node/package.json, by the session fixture, when it isn't there yet. Without a
``node`` binary, or when ``ws`` is missing and can't be installed, the tests skip and say
why; with ``WSFAST_REQUIRE_PEERS=1`` they fail instead. ``.ci/install-peers`` installs node
and npm from Debian's packages.

Every test runs on both codecs (conftest.active_codec); every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

try:
    import fcntl
except ImportError:  # Windows: no lock, concurrent test runs may both install ws
    fcntl = None
from asyncio_support import run
from sync_support import serving_sync

from wsfast.asyncio import client as asyncio_client
from wsfast.asyncio import server as asyncio_server
from wsfast.exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
)
from wsfast.extensions import permessage_deflate
from wsfast.sync import client as sync_client
from wsfast.sync import server as sync_server

pytestmark = pytest.mark.usefixtures("active_codec", "no_error_logs")

NODE_DIR = Path(__file__).parent / "node"
PACKAGE_JSON = NODE_DIR / "package.json"
SERVER_JS = NODE_DIR / "server.js"
CLIENT_JS = NODE_DIR / "client.js"

WAIT = 10  # seconds for any single step
NPM_TIMEOUT = 180
MAX_SIZE = 2**21  # the wsfast servers' limit; the node client sends one byte more
REQUIRE_PEERS = os.environ.get("WSFAST_REQUIRE_PEERS", "") not in ("", "0")

# (what wsfast offers or accepts, whether the ws side enables permessage-deflate)
COMPRESSION = pytest.mark.parametrize(
    ("wsfast_compression", "ws_deflate"),
    [("deflate", True), ("deflate", False), (None, True)],
    ids=["deflate", "ws-declines", "wsfast-declines"],
)


def unavailable(reason):
    """Skip, saying why; or fail when WSFAST_REQUIRE_PEERS asks for every peer."""
    if REQUIRE_PEERS:
        pytest.fail(f"{reason} (and WSFAST_REQUIRE_PEERS is set)", pytrace=False)
    pytest.skip(reason)


# Finding node and installing ws ---------------------------------------------------------


def cache_dir():
    explicit = os.environ.get("WSFAST_NODE_WS_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "wsfast-node-ws"


def ws_version(node, modules):
    """The version of ws installed under ``modules``, or None."""
    try:
        result = subprocess.run(
            [node, "-e", "process.stdout.write(require('ws/package.json').version)"],
            env={**os.environ, "NODE_PATH": str(modules)},
            check=False,
            capture_output=True,
            text=True,
            timeout=WAIT * 3,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def install_ws(node, directory):
    """Install ws into ``directory`` unless it's there for the current package.json;
    return (node_modules, ws version), or (None, why not)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return None, f"can't make the cache directory for ws ({exc}); set WSFAST_NODE_WS_CACHE"
    modules = directory / "node_modules"
    wanted = PACKAGE_JSON.read_text()
    with open(directory / ".lock", "w") as lock:
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another test run may be installing right now
        installed = directory / "package.json"
        if installed.exists() and installed.read_text() == wanted:
            version = ws_version(node, modules)
            if version:
                return modules, version
        npm = shutil.which("npm")
        if npm is None:
            return None, (
                f"ws isn't installed in {directory} and there is no npm to install it "
                "(apt-get install -y npm, or run .ci/install-peers)"
            )
        installed.write_text(wanted)
        command = [
            npm, "install", "--prefix", str(directory), "--no-audit", "--no-fund",
            "--no-package-lock", "--omit=dev", "--loglevel=error",
            # An unreachable registry fails in seconds, not after minutes of retries.
            "--fetch-retries=1", "--fetch-retry-mintimeout=1000",
            "--fetch-retry-maxtimeout=5000", "--fetch-timeout=60000",
        ]
        try:
            result = subprocess.run(
                command,
                check=False,
                capture_output=True,
                text=True,
                timeout=NPM_TIMEOUT,
                cwd=directory,
            )
        except subprocess.TimeoutExpired:
            installed.unlink()
            return None, f"npm install of ws into {directory} took over {NPM_TIMEOUT} s"
        version = ws_version(node, modules)
        if result.returncode != 0 or not version:
            installed.unlink()
            return None, (
                f"npm install of ws into {directory} failed (exit {result.returncode}): "
                f"{npm_error(result.stderr or result.stdout)}"
            )
        return modules, version


def npm_error(output):
    """The gist of npm's error output: its first lines that aren't a stack trace."""
    lines = []
    for line in output.splitlines():
        text = line.removeprefix("npm error").strip()
        if text and not text.startswith(("at ", "{", "}", "code:", "errno:", "syscall:")):
            lines.append(text)
    return " / ".join(lines[:4])[:600] or "no output"


class NodeEnv:
    def __init__(self, node, modules, ws_version):
        self.node = node
        self.modules = modules
        self.ws_version = ws_version
        self.environ = {**os.environ, "NODE_PATH": str(modules)}
        self.node_version = subprocess.run(
            [node, "--version"], check=False, capture_output=True, text=True, timeout=WAIT
        ).stdout.strip()


@pytest.fixture(scope="session")
def node_env():
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        unavailable(
            "no node binary on PATH: install Debian's nodejs and npm "
            "(apt-get install -y nodejs npm, or run .ci/install-peers)"
        )
    modules, version = install_ws(node, cache_dir())
    if modules is None:
        unavailable(version)
    return NodeEnv(node, modules, version)


# A ws server in a subprocess ------------------------------------------------------------


class NodeServer:
    """server.js in a subprocess; ``events`` holds the JSON lines it printed."""

    def __init__(self, env):
        self.events = []
        self.stderr = []
        self.changed = threading.Condition()
        self.process = subprocess.Popen(
            [env.node, str(SERVER_JS)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env.environ,
            cwd=NODE_DIR,
        )
        self.readers = [
            threading.Thread(target=self._read_events, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in self.readers:
            reader.start()
        try:
            listening = self.wait_for(lambda event: event["event"] == "listening", 20)
        except BaseException:
            self.close()
            raise
        self.ports = {name: listening[name] for name in ("deflate", "plain", "tuned")}

    def _read_events(self):
        for line in self.process.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                event = {"event": "garbage", "line": line.decode(errors="replace")}
            with self.changed:
                self.events.append(event)
                self.changed.notify_all()
        with self.changed:
            self.events.append({"event": "exit"})
            self.changed.notify_all()

    def _read_stderr(self):
        for line in self.process.stderr:
            self.stderr.append(line.decode(errors="replace"))

    def uri(self, deflate):
        """The URI of the "deflate", "plain" or "tuned" server (True: deflate, False: plain)."""
        if isinstance(deflate, bool):
            deflate = "deflate" if deflate else "plain"
        return f"ws://127.0.0.1:{self.ports[deflate]}"

    def wait_for(self, predicate, timeout=WAIT):
        """The first event for which ``predicate`` holds; fail after ``timeout`` seconds."""

        def found():
            return next((event for event in self.events if predicate(event)), None)

        with self.changed:
            self.changed.wait_for(lambda: found() is not None, timeout)
            event = found()
        assert event is not None, (
            f"server.js printed no such event in {timeout} s; events: {self.events[-10:]}; "
            f"stderr: {''.join(self.stderr)[-2000:]}; exit code: {self.process.poll()}"
        )
        return event

    def event(self, kind, path, timeout=WAIT):
        return self.wait_for(lambda e: e["event"] == kind and e.get("path") == path, timeout)

    def close(self):
        with contextlib.suppress(OSError):
            self.process.stdin.close()  # server.js exits when its stdin ends
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        for reader in self.readers:
            reader.join(5)
        with contextlib.suppress(OSError):
            self.process.stdout.close()
            self.process.stderr.close()


@pytest.fixture(scope="module")
def node_server(node_env):
    server = NodeServer(node_env)
    yield server
    server.close()


@pytest.fixture
def prefix():
    """A path prefix of this test's own, to tell its connections in the server's events."""
    return f"/{uuid.uuid4().hex}"


# wsfast clients against the ws server ---------------------------------------------------


MESSAGES = [
    "hello",
    "ünïcødé ☃ 𝄞 こんにちは",
    "",
    b"",
    b"\x00\x01\xfe\xff",
    "y" * 126,
    b"w" * 70000,
    "€ ☃ compressible text " * 40000,
    os.urandom(2**20 + 3),
]


def expected_extensions(wsfast_compression, ws_deflate):
    negotiated = wsfast_compression == "deflate" and ws_deflate
    return "permessage-deflate" if negotiated else ""


def check_open_event(node_server, path, wsfast_compression, ws_deflate):
    opened = node_server.event("open", path)
    if wsfast_compression == "deflate":
        assert opened["offered"].startswith("permessage-deflate"), opened
    else:
        assert opened["offered"] is None, opened
    assert opened["extensions"] == expected_extensions(wsfast_compression, ws_deflate)


def check_response(ws, wsfast_compression, ws_deflate):
    header = ws.response.headers.get("Sec-WebSocket-Extensions")
    if expected_extensions(wsfast_compression, ws_deflate):
        assert header is not None and header.startswith("permessage-deflate"), header
        assert [extension.name for extension in ws.protocol.extensions] == [
            "permessage-deflate"
        ]
    else:
        assert header is None, header
        assert ws.protocol.extensions == []


@COMPRESSION
def test_asyncio_client_against_ws_server(node_server, prefix, wsfast_compression, ws_deflate):
    uri = node_server.uri(ws_deflate) + prefix
    options = {"compression": wsfast_compression, "open_timeout": WAIT, "close_timeout": WAIT}

    async def recv(ws):
        return await asyncio.wait_for(ws.recv(), WAIT)

    async def main():
        async with asyncio_client.connect(uri + "/echo", max_size=2**22, **options) as ws:
            check_response(ws, wsfast_compression, ws_deflate)
            for message in MESSAGES:
                await ws.send(message)
                reply = await recv(ws)
                assert type(reply) is type(message)
                assert reply == message, f"echo of {type(message).__name__}({len(message)})"
            # Fragmented messages from wsfast, from iterables and an async iterator.
            await ws.send(["α", "β", "γ"])
            assert await recv(ws) == "αβγ"
            await ws.send([b"ab", b"", b"cd"])
            assert await recv(ws) == b"abcd"

            async def chunks():
                for chunk in ("x" * 40000, "é" * 30000, "z"):
                    await asyncio.sleep(0)
                    yield chunk

            await ws.send(chunks())
            assert await recv(ws) == "x" * 40000 + "é" * 30000 + "z"
            # Fragmented messages from ws.
            await ws.send("cmd:fragments")
            assert await recv(ws) == "fragmented ☃"
            assert await recv(ws) == b"\x01\x02\x03\x04"
            # Pings both ways.
            pong = await ws.ping("ping ☃")
            await asyncio.wait_for(pong, WAIT)
            await ws.send("cmd:ping:ws ping")
            assert await recv(ws) == "pong:ws ping"
            await ws.send("cmd:extensions")
            assert await recv(ws) == "extensions:" + expected_extensions(
                wsfast_compression, ws_deflate
            )
            await ws.close(4000, "bye ☃")
            assert (ws.close_code, ws.close_reason) == (4000, "bye ☃")
        check_open_event(node_server, prefix + "/echo", wsfast_compression, ws_deflate)
        closed = node_server.event("close", prefix + "/echo")
        assert (closed["code"], closed["reason"]) == (4000, "bye ☃")

        # ws closes, with a code and a reason.
        async with asyncio_client.connect(uri + "/server-closes", **options) as ws:
            await ws.send("cmd:close:4001:server bye ☃")
            with pytest.raises(ConnectionClosedError) as info:
                await recv(ws)
            assert (info.value.rcvd.code, info.value.rcvd.reason) == (4001, "server bye ☃")
            assert (ws.close_code, ws.close_reason) == (4001, "server bye ☃")
        async with asyncio_client.connect(uri + "/server-closes-ok", **options) as ws:
            await ws.send("cmd:close:1000:done")
            with pytest.raises(ConnectionClosedOK):
                await recv(ws)
            assert (ws.close_code, ws.close_reason) == (1000, "done")

        # ws drops the connection: 1006.
        async with asyncio_client.connect(uri + "/terminate", **options) as ws:
            await ws.send("cmd:terminate")
            with pytest.raises(ConnectionClosedError):
                await recv(ws)
            assert ws.close_code == 1006

        # A message over wsfast's max_size: wsfast closes with 1009.
        async with asyncio_client.connect(uri + "/too-big", max_size=2**16, **options) as ws:
            await ws.send(b"x" * (2**16 + 1))
            with pytest.raises(ConnectionClosedError) as info:
                await recv(ws)
            assert info.value.sent.code == 1009
        closed = node_server.event("close", prefix + "/too-big")
        assert closed["code"] == 1009, closed

    run(main(), timeout=40)


@COMPRESSION
def test_sync_client_against_ws_server(node_server, prefix, wsfast_compression, ws_deflate):
    uri = node_server.uri(ws_deflate) + prefix
    options = {"compression": wsfast_compression, "open_timeout": WAIT, "close_timeout": WAIT}

    with sync_client.connect(uri + "/echo", max_size=2**22, **options) as ws:
        check_response(ws, wsfast_compression, ws_deflate)
        for message in MESSAGES:
            ws.send(message)
            reply = ws.recv(timeout=WAIT)
            assert type(reply) is type(message)
            assert reply == message, f"echo of {type(message).__name__}({len(message)})"
        ws.send(["α", "β", "γ"])
        assert ws.recv(timeout=WAIT) == "αβγ"
        ws.send(iter([b"ab", b"", b"cd"]))
        assert ws.recv(timeout=WAIT) == b"abcd"
        ws.send("cmd:fragments")
        assert ws.recv(timeout=WAIT) == "fragmented ☃"
        assert ws.recv(timeout=WAIT) == b"\x01\x02\x03\x04"
        # A fragmented message received piece by piece.
        ws.send("cmd:fragments")
        assert "".join(ws.recv_streaming()) == "fragmented ☃"
        assert ws.recv(timeout=WAIT) == b"\x01\x02\x03\x04"
        pong = ws.ping(b"ping \xe2\x98\x83")
        assert pong.wait(WAIT), "no pong from ws"
        ws.send("cmd:ping:ws ping")
        assert ws.recv(timeout=WAIT) == "pong:ws ping"
        ws.send("cmd:extensions")
        assert ws.recv(timeout=WAIT) == "extensions:" + expected_extensions(
            wsfast_compression, ws_deflate
        )
        ws.close(4000, "bye ☃")
        assert (ws.close_code, ws.close_reason) == (4000, "bye ☃")
    check_open_event(node_server, prefix + "/echo", wsfast_compression, ws_deflate)
    closed = node_server.event("close", prefix + "/echo")
    assert (closed["code"], closed["reason"]) == (4000, "bye ☃")

    with sync_client.connect(uri + "/server-closes", **options) as ws:
        ws.send("cmd:close:4001:server bye ☃")
        with pytest.raises(ConnectionClosedError) as info:
            ws.recv(timeout=WAIT)
        assert (info.value.rcvd.code, info.value.rcvd.reason) == (4001, "server bye ☃")

    with sync_client.connect(uri + "/terminate", **options) as ws:
        ws.send("cmd:terminate")
        with pytest.raises(ConnectionClosedError):
            ws.recv(timeout=WAIT)
        assert ws.close_code == 1006

    with sync_client.connect(uri + "/too-big", max_size=2**16, **options) as ws:
        ws.send(b"x" * (2**16 + 1))
        with pytest.raises(ConnectionClosedError) as info:
            ws.recv(timeout=WAIT)
        assert info.value.sent.code == 1009
    closed = node_server.event("close", prefix + "/too-big")
    assert closed["code"] == 1009, closed


# The ws client against wsfast servers ---------------------------------------------------


class Records:
    """What a wsfast server saw, per request path; thread-safe, for both kinds of server."""

    def __init__(self):
        self.by_path = {}
        self.lock = threading.Lock()

    def opened(self, ws):
        with self.lock:
            self.by_path[ws.request.path] = {
                "offered": ws.request.headers.get("Sec-WebSocket-Extensions"),
                "accepted": ws.response.headers.get("Sec-WebSocket-Extensions"),
                "extensions": [extension.name for extension in ws.protocol.extensions],
            }

    def closed(self, ws, exc):
        with self.lock:
            self.by_path[ws.request.path]["close"] = (ws.close_code, ws.close_reason)
            self.by_path[ws.request.path]["exc"] = exc

    def wait_closed(self, path, timeout=WAIT):
        """The record of ``path`` once its handler is done (polled: works in any thread)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                record = self.by_path.get(path)
                if record is not None and "close" in record:
                    return record
            time.sleep(0.02)
        raise AssertionError(f"no closed connection on {path} in {timeout} s: {self.by_path}")


def asyncio_command_handler(records):
    async def handler(ws):
        records.opened(ws)
        exc = None
        try:
            async for message in ws:
                if isinstance(message, str) and message.startswith("cmd:"):
                    verb, _, argument = message[4:].partition(":")
                    if verb == "ping":
                        pong = await ws.ping(argument)
                        await asyncio.wait_for(pong, WAIT)
                        await ws.send("pong:" + argument)
                    elif verb == "close":
                        code, _, reason = argument.partition(":")
                        await ws.close(int(code), reason)
                    elif verb == "fragments":
                        await ws.send(["frag", "ment", "ed ☃"])
                        await ws.send([b"\x01\x02", b"\x03\x04"])
                    elif verb == "extensions":
                        names = ",".join(e.name for e in ws.protocol.extensions)
                        await ws.send("extensions:" + names)
                    else:
                        await ws.send("unknown command: " + message)
                else:
                    await ws.send(message)
        except ConnectionClosed as error:
            exc = error
        records.closed(ws, exc)

    return handler


def sync_command_handler(records):
    def handler(ws):
        records.opened(ws)
        exc = None
        try:
            while True:
                message = ws.recv(timeout=WAIT * 2)
                if isinstance(message, str) and message.startswith("cmd:"):
                    verb, _, argument = message[4:].partition(":")
                    if verb == "ping":
                        assert ws.ping(argument).wait(WAIT), "no pong from ws"
                        ws.send("pong:" + argument)
                    elif verb == "close":
                        code, _, reason = argument.partition(":")
                        ws.close(int(code), reason)
                    elif verb == "fragments":
                        ws.send(["frag", "ment", "ed ☃"])
                        ws.send([b"\x01\x02", b"\x03\x04"])
                    elif verb == "extensions":
                        names = ",".join(e.name for e in ws.protocol.extensions)
                        ws.send("extensions:" + names)
                    else:
                        ws.send("unknown command: " + message)
                else:
                    ws.send(message)
        except ConnectionClosed as error:
            exc = error
        records.closed(ws, exc)

    return handler


def client_command(node_env, uri, ws_deflate):
    """client.js's command line; ``ws_deflate`` is True, False or ws's deflate options."""
    command = [node_env.node, str(CLIENT_JS), uri, "--too-big", str(MAX_SIZE + 1)]
    if ws_deflate is False:
        command.append("--no-deflate")
    elif ws_deflate is not True:
        command += ["--deflate-options", json.dumps(ws_deflate)]
    return command


def parse_report(stdout, stderr, returncode):
    lines = [line for line in stdout.decode().splitlines() if line.strip()]
    assert returncode == 0 and lines, (
        f"client.js exited {returncode}; stdout: {stdout[-2000:]!r}; stderr: {stderr[-2000:]!r}"
    )
    return json.loads(lines[-1])


def check_ws_client_run(report, records, wsfast_compression, ws_deflate):
    assert report["failures"] == [], report
    negotiated = expected_extensions(wsfast_compression, bool(ws_deflate))
    assert report["extensions"] == negotiated
    assert report["server_extensions"] == "extensions:" + negotiated
    assert report["closes"]["client"] == [4000, "bye ☃"]
    assert report["closes"]["server"] == [4001, "server bye ☃"]
    assert report["closes"]["too_big"][0] == 1009, report

    echo = records.wait_closed("/echo")
    if ws_deflate:
        assert echo["offered"].startswith("permessage-deflate"), echo
    else:
        assert echo["offered"] is None, echo
    if negotiated:
        assert echo["accepted"].startswith("permessage-deflate"), echo
        assert echo["extensions"] == ["permessage-deflate"]
    else:
        assert echo["accepted"] is None, echo
        assert echo["extensions"] == []
    assert echo["close"] == (4000, "bye ☃"), echo
    # 4000 isn't 1000 or 1001: websockets' API reports it as an error, and so does wsfast.
    assert isinstance(echo["exc"], ConnectionClosedError), echo
    assert (echo["exc"].rcvd.code, echo["exc"].rcvd.reason) == (4000, "bye ☃")
    assert records.wait_closed("/server-closes")["close"] == (4001, "server bye ☃")
    too_big = records.wait_closed("/too-big")
    assert isinstance(too_big["exc"], ConnectionClosedError), too_big
    assert too_big["exc"].sent.code == 1009, too_big


@COMPRESSION
def test_ws_client_against_asyncio_server(node_env, wsfast_compression, ws_deflate):
    records = Records()

    async def main():
        async with asyncio_server.serve(
            asyncio_command_handler(records),
            "127.0.0.1",
            0,
            compression=wsfast_compression,
            max_size=MAX_SIZE,
            open_timeout=WAIT,
            close_timeout=WAIT,
        ) as server:
            port = server.sockets[0].getsockname()[1]
            process = await asyncio.create_subprocess_exec(
                *client_command(node_env, f"ws://127.0.0.1:{port}", ws_deflate),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=node_env.environ,
            )
            try:
                stdout, stderr = await asyncio.wait_for(process.communicate(), 45)
            finally:
                if process.returncode is None:
                    process.kill()
                    await asyncio.wait_for(process.wait(), 5)
            report = parse_report(stdout, stderr, process.returncode)
            for path in ("/echo", "/server-closes", "/too-big"):
                for _ in range(250):  # the handlers may finish just after the client
                    if "close" in records.by_path.get(path, {}):
                        break
                    await asyncio.sleep(0.02)
            return report

    report = run(main(), timeout=55)
    check_ws_client_run(report, records, wsfast_compression, ws_deflate)


@COMPRESSION
def test_ws_client_against_sync_server(node_env, wsfast_compression, ws_deflate):
    records = Records()
    with serving_sync(
        sync_server.serve,
        sync_command_handler(records),
        "127.0.0.1",
        0,
        compression=wsfast_compression,
        max_size=MAX_SIZE,
        close_timeout=WAIT,
    ) as server:
        port = server.socket.getsockname()[1]
        result = subprocess.run(
            client_command(node_env, f"ws://127.0.0.1:{port}", ws_deflate),
            stdin=subprocess.DEVNULL,
            check=False,
            capture_output=True,
            timeout=45,
            env=node_env.environ,
        )
        report = parse_report(result.stdout, result.stderr, result.returncode)
        check_ws_client_run(report, records, wsfast_compression, ws_deflate)


# permessage-deflate parameters ----------------------------------------------------------

# The same parameters in both libraries' spellings: no context takeover either way, a
# server window of 2**10 bytes, a client window of 2**11.
WSFAST_DEFLATE_OPTIONS = {
    "server_no_context_takeover": True,
    "client_no_context_takeover": True,
    "server_max_window_bits": 10,
    "client_max_window_bits": 11,
}
WS_DEFLATE_OPTIONS = {
    "serverNoContextTakeover": True,
    "clientNoContextTakeover": True,
    "serverMaxWindowBits": 10,
    "clientMaxWindowBits": 11,
}
DEFLATE_MESSAGES = ["same text again " * 500] * 3 + [os.urandom(5000), "tail ☃ " * 2000]


def check_parameters(header):
    assert header is not None and header.startswith("permessage-deflate"), header
    parameters = {parameter.strip() for parameter in header.split(";")[1:]}
    assert parameters == {
        "server_no_context_takeover",
        "client_no_context_takeover",
        "server_max_window_bits=10",
        "client_max_window_bits=11",
    }, header


@pytest.mark.parametrize("side_with_options", ["server", "client"])
def test_deflate_parameters_against_ws_server(node_server, prefix, side_with_options):
    """Window sizes and no-context-takeover asked for by ws's server or by wsfast's client."""
    if side_with_options == "server":
        uri, kwargs = node_server.uri("tuned"), {}
    else:
        factory = permessage_deflate.ClientPerMessageDeflateFactory(**WSFAST_DEFLATE_OPTIONS)
        uri, kwargs = node_server.uri("deflate"), {"extensions": [factory], "compression": None}

    async def main():
        async with asyncio_client.connect(uri + prefix, open_timeout=WAIT, **kwargs) as ws:
            check_parameters(ws.response.headers.get("Sec-WebSocket-Extensions"))
            for message in DEFLATE_MESSAGES:
                await ws.send(message)
                assert await asyncio.wait_for(ws.recv(), WAIT) == message
            await ws.send(["frag" * 1000, "mented" * 1000])
            assert await asyncio.wait_for(ws.recv(), WAIT) == "frag" * 1000 + "mented" * 1000
            await ws.send("cmd:fragments")
            assert await asyncio.wait_for(ws.recv(), WAIT) == "fragmented ☃"
            assert await asyncio.wait_for(ws.recv(), WAIT) == b"\x01\x02\x03\x04"

    run(main())
    opened = node_server.event("open", prefix)
    assert opened["extensions"] == "permessage-deflate", opened

    # The sync client, against the same server.
    with sync_client.connect(uri + prefix + "/sync", open_timeout=WAIT, **kwargs) as ws:
        check_parameters(ws.response.headers.get("Sec-WebSocket-Extensions"))
        for message in DEFLATE_MESSAGES:
            ws.send(message)
            assert ws.recv(timeout=WAIT) == message


@pytest.mark.parametrize("side_with_options", ["server", "client"])
def test_deflate_parameters_ws_client(node_env, side_with_options):
    """Window sizes and no-context-takeover asked for by wsfast's server or by ws's client."""
    records = Records()
    if side_with_options == "server":
        factory = permessage_deflate.ServerPerMessageDeflateFactory(**WSFAST_DEFLATE_OPTIONS)
        server_kwargs, ws_deflate = {"extensions": [factory], "compression": None}, True
    else:
        server_kwargs, ws_deflate = {}, WS_DEFLATE_OPTIONS

    async def main():
        async with asyncio_server.serve(
            asyncio_command_handler(records),
            "127.0.0.1",
            0,
            max_size=MAX_SIZE,
            open_timeout=WAIT,
            **server_kwargs,
        ) as server:
            port = server.sockets[0].getsockname()[1]
            process = await asyncio.create_subprocess_exec(
                *client_command(node_env, f"ws://127.0.0.1:{port}", ws_deflate),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=node_env.environ,
            )
            try:
                stdout, stderr = await asyncio.wait_for(process.communicate(), 45)
            finally:
                if process.returncode is None:
                    process.kill()
                    await asyncio.wait_for(process.wait(), 5)
            return parse_report(stdout, stderr, process.returncode)

    report = run(main(), timeout=55)
    check_parameters(report["response_extensions"])
    check_ws_client_run(report, records, "deflate", ws_deflate)
    check_parameters(records.wait_closed("/echo")["accepted"])
