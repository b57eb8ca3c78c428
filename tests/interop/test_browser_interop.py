"""wsfast servers against a real browser: headless Chromium.

One Chromium (Debian package ``chromium``) is started for the session, headless, with a
temporary profile, background networking off and DevTools on an ephemeral port of
127.0.0.1. Each test starts a wsfast server (asyncio or sync) that also serves
tests/interop/browser/page.html over plain HTTP from its ``process_request`` hook, the
websockets way (``connection.respond()``, headers changed), and opens the page in a new
tab through the DevTools protocol, itself spoken by a wsfast client (asyncio or sync) to
Chromium's own WebSocket server.

The page opens a WebSocket to the same server, asking for a subprotocol that the server
picks, and sends text (non-ASCII and empty included) and binary messages, 256 KiB ones among
them; the server checks that it got exactly the messages it expected (the page's "random"
bytes come from an xorshift that is rebuilt here) and echoes them, and the page checks the
echoes. Then the server pings the page, sends its own messages (256 KiB of random bytes,
fragmented text and binary among them) for the page to echo, and the page sends a JSON
report. Then the page closes with 4000 and a non-ASCII reason, or the server closes with
4001 and the page tells it, over HTTP, the close event it got.

Each test runs with permessage-deflate (Chromium always offers it; the server checks it was
negotiated, on its side and on the page's ``ws.extensions``), with every parameter a server
can set (no context takeover, window bits 10 and 11; the server closes in that run), and with
``compression=None``.

Without a Chromium binary the tests skip, saying how to install it (``.ci/install-peers``
does); with ``WSFAST_REQUIRE_PEERS=1`` they fail instead. Every test runs on both codecs
(conftest.active_codec); every wait is bounded, and Chromium's whole process group is
killed at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import pytest
from asyncio_support import run
from sync_support import serving_sync

from wsfast.asyncio import client as asyncio_client
from wsfast.asyncio import server as asyncio_server
from wsfast.exceptions import ConnectionClosed
from wsfast.extensions import permessage_deflate
from wsfast.sync import client as sync_client
from wsfast.sync import server as sync_server

pytestmark = pytest.mark.usefixtures("active_codec", "no_error_logs")

PAGE = (Path(__file__).parent / "browser" / "page.html").read_text(encoding="utf-8")

WAIT = 10  # seconds for any single step
PAGE_TIMEOUT = 30  # seconds for the page's whole run
STARTUP_TIMEOUT = 30  # seconds for Chromium to open its DevTools port
REQUIRE_PEERS = os.environ.get("WSFAST_REQUIRE_PEERS", "") not in ("", "0")

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",  # root in a container: no user namespaces for the sandbox
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--disable-extensions",
    "--disable-breakpad",
    "--disable-client-side-phishing-detection",
    "--disable-domain-reliability",
    "--disable-features=Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider",
    "--no-first-run",
    "--no-default-browser-check",
    "--no-pings",
    "--metrics-recording-only",
    "--mute-audio",
    "--password-store=basic",
    "--use-mock-keychain",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
]

# "tuned": permessage-deflate with every parameter the server can set, for Chromium to accept.
COMPRESSION = pytest.mark.parametrize(
    "compression", ["deflate", "tuned", None], ids=["deflate", "tuned", "none"]
)
TUNED = {
    "server_no_context_takeover": True,
    "client_no_context_takeover": True,
    "server_max_window_bits": 10,
    "client_max_window_bits": 11,
}


def compression_options(compression):
    """serve()'s keyword arguments for a COMPRESSION parameter."""
    if compression == "tuned":
        factory = permessage_deflate.ServerPerMessageDeflateFactory(**TUNED)
        return {"compression": None, "extensions": [factory]}
    return {"compression": compression}


def unavailable(reason):
    """Skip, saying why; or fail when WSFAST_REQUIRE_PEERS asks for every peer."""
    if REQUIRE_PEERS:
        pytest.fail(f"{reason} (and WSFAST_REQUIRE_PEERS is set)", pytrace=False)
    pytest.skip(reason)


# What the page sends, built as page.html builds it ---------------------------------------


def noise(length, seed):
    """page.html's xorshift32 bytes."""
    out = bytearray(length)
    x = seed
    for i in range(length):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        out[i] = x & 255
    return bytes(out)


@functools.cache
def page_messages():
    return [
        "hello",
        "ünïcødé ☃ 𝄞 こんにちは",
        "",
        b"\x00\x01\xfe\xff",
        b"",
        "€ ☃ compressible text " * 3000,
        noise(256 * 1024, 0x2545F491),
        bytes(i % 251 for i in range(256 * 1024)),
        "Grüße, 世界! 🙂 " * 20000,
    ]


# What the server sends for the page to echo: (message to send, message expected back).
SERVER_MESSAGES = [
    ("wsfast says ☃", "wsfast says ☃"),
    (b"\x00\xff\x80", b"\x00\xff\x80"),
    ("", ""),
    (os.urandom(256 * 1024), None),
    ("wsfast compressible € " * 15000, None),
    (["frag", "ment", "ed ☃"], "fragmented ☃"),
    ([b"\x01\x02", b"", b"\x03\x04"], b"\x01\x02\x03\x04"),
]
SERVER_MESSAGES = [(sent, sent if back is None else back) for sent, back in SERVER_MESSAGES]


def summary(messages):
    return [f"{type(m).__name__}({len(m)})" for m in messages]


# Chromium --------------------------------------------------------------------------------


def find_chromium():
    explicit = os.environ.get("WSFAST_CHROMIUM")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for name in ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


class Chromium:
    """Headless Chromium in a process group of its own, DevTools on 127.0.0.1."""

    def __init__(self, binary):
        self.directory = Path(tempfile.mkdtemp(prefix="wsfast-chromium-"))
        self.profile = self.directory / "profile"
        self.log_path = self.directory / "chromium.log"
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed by close()
        self.process = subprocess.Popen(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, killed as a whole
        )
        try:
            self.devtools_url = self._wait_for_devtools()
            self.version = self._version()
        except BaseException:
            self.close()
            raise

    def _wait_for_devtools(self):
        active_port = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            with contextlib.suppress(OSError):
                lines = active_port.read_text().splitlines()
                if len(lines) >= 2:
                    return f"ws://127.0.0.1:{int(lines[0])}{lines[1]}"
            time.sleep(0.05)
        raise RuntimeError(
            f"Chromium didn't open its DevTools port in {STARTUP_TIMEOUT} s "
            f"(exit code {self.process.poll()}); its output:\n{self.output()}"
        )

    def _version(self):
        with sync_client.connect(self.devtools_url, open_timeout=WAIT) as cdp:
            return devtools_call(cdp, "Browser.getVersion")["product"]

    def output(self):
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-3000:]
        return ""

    def close(self):
        # The profile is thrown away: no need for a graceful exit. SIGKILL to the whole
        # group (renderers, GPU and network processes, zygotes), then reap the main process.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)
        self.log.close()
        shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture(scope="session")  # the codec parameter splits the module's tests in two
def chromium():
    if os.name != "posix":
        pytest.skip("Chromium is run in a process group of its own, which needs POSIX")
    binary = find_chromium()
    if binary is None:
        unavailable(
            "no Chromium binary (chromium, chromium-browser, google-chrome) on PATH and no "
            "WSFAST_CHROMIUM: install Debian's chromium (apt-get install -y chromium, or "
            "run .ci/install-peers)"
        )
    browser = Chromium(binary)
    yield browser
    browser.close()


# The DevTools protocol, over a wsfast client ---------------------------------------------


def devtools_call(cdp, method, params=None, *, call_id=1):
    """A DevTools call on a sync wsfast client connection; its result."""
    cdp.send(json.dumps({"id": call_id, "method": method, "params": params or {}}))
    deadline = time.monotonic() + WAIT
    while True:
        reply = json.loads(cdp.recv(timeout=max(0.01, deadline - time.monotonic())))
        if reply.get("id") == call_id:
            assert "error" not in reply, reply
            return reply["result"]


async def devtools_call_async(cdp, method, params=None, *, call_id=1):
    """A DevTools call on an asyncio wsfast client connection; its result."""
    await cdp.send(json.dumps({"id": call_id, "method": method, "params": params or {}}))

    async def reply():
        while True:
            message = json.loads(await cdp.recv())
            if message.get("id") == call_id:
                assert "error" not in message, message
                return message["result"]

    return await asyncio.wait_for(reply(), WAIT)


# Each tab opens in a browser context of its own (like an incognito window): nothing is
# learned from one test to the next, and disposing of the context closes its sockets,
# speculative ones included (Chromium preconnects to an origin it has seen, and a server
# waits for such a connection, idle in its opening handshake, until open_timeout).


@contextlib.contextmanager
def browser_tab(chromium, url):
    """A tab showing ``url``, opened and closed through DevTools (sync wsfast client)."""
    with sync_client.connect(chromium.devtools_url, open_timeout=WAIT, max_size=2**24) as cdp:
        context = devtools_call(cdp, "Target.createBrowserContext", call_id=1)
        context_id = context["browserContextId"]
        try:
            devtools_call(
                cdp,
                "Target.createTarget",
                {"url": url, "browserContextId": context_id},
                call_id=2,
            )
            yield
        finally:
            devtools_call(
                cdp, "Target.disposeBrowserContext", {"browserContextId": context_id}, call_id=3
            )


@contextlib.asynccontextmanager
async def browser_tab_async(chromium, url):
    """A tab showing ``url``, opened and closed through DevTools (asyncio wsfast client)."""
    async with asyncio_client.connect(
        chromium.devtools_url, open_timeout=WAIT, max_size=2**24
    ) as cdp:
        context = await devtools_call_async(cdp, "Target.createBrowserContext", call_id=1)
        context_id = context["browserContextId"]
        try:
            await devtools_call_async(
                cdp,
                "Target.createTarget",
                {"url": url, "browserContextId": context_id},
                call_id=2,
            )
            yield
        finally:
            await devtools_call_async(
                cdp, "Target.disposeBrowserContext", {"browserContextId": context_id}, call_id=3
            )


# The wsfast side -------------------------------------------------------------------------


SUBPROTOCOL = "wsfast.interop"


class PageRun:
    """One run of the page against one server: the page's URL, and what the server saw.

    With ``compression="tuned"``, the server closes the connection (4001) and the page tells
    it the close event it got; otherwise the page closes (4000).
    """

    def __init__(self, compression):
        self.compression = compression
        self.closer = "server" if compression == "tuned" else "page"
        self.done = threading.Event()  # set when the handler ends
        self.log = []  # the page's GET /log messages
        self.http_paths = []
        self.error = None
        self.offered = self.accepted = None
        self.extensions = self.subprotocol = None
        self.received = []
        self.echoes = []
        self.report = None
        self.close_exc = None  # closer=page: what recv() raised once the page closed
        self.closed = None  # closer=server: (close_code, close_reason) after close()

    def url(self, port):
        query = urllib.parse.urlencode(
            [("ws", "/echo"), ("closer", self.closer), ("protocol", "other"),
             ("protocol", SUBPROTOCOL)]
        )
        return f"http://127.0.0.1:{port}/page?{query}"

    def process_request(self, connection, request):
        """Serve the page and /log over plain HTTP; let WebSocket handshakes through."""
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return None
        path, _, query = request.path.partition("?")
        self.http_paths.append(path)
        if path == "/page":
            response = connection.respond(http.HTTPStatus.OK, PAGE)
            del response.headers["Content-Type"]
            response.headers["Content-Type"] = "text/html; charset=utf-8"
            response.headers["Cache-Control"] = "no-store"
            return response
        if path == "/log":
            self.log.append(urllib.parse.unquote(query))
            return connection.respond(http.HTTPStatus.OK, "logged\n")
        return connection.respond(http.HTTPStatus.NOT_FOUND, "Not found\n")

    def opened(self, ws):
        self.offered = ws.request.headers.get("Sec-WebSocket-Extensions")
        self.accepted = ws.response.headers.get("Sec-WebSocket-Extensions")
        self.extensions = [extension.name for extension in ws.protocol.extensions]
        self.subprotocol = ws.subprotocol

    def page_close_event(self):
        """The close event the page told of (closer=server), or None."""
        for entry in list(self.log):
            if entry.startswith("closed "):
                return json.loads(entry.removeprefix("closed "))
        return None

    def finished(self):
        return self.done.is_set() and (self.closer == "page" or self.page_close_event())

    def wait_finished(self, timeout):
        deadline = time.monotonic() + timeout
        while not self.finished() and time.monotonic() < deadline:
            time.sleep(0.02)
        self.check_finished(timeout)

    async def wait_finished_async(self, timeout):
        deadline = time.monotonic() + timeout
        while not self.finished() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        self.check_finished(timeout)

    def check_finished(self, timeout):
        if not self.finished():
            raise AssertionError(self.describe(f"the page didn't finish in {timeout} s"))

    def describe(self, what):
        return (
            f"{what}; HTTP requests: {self.http_paths}; page log: {self.log}; "
            f"received: {summary(self.received)}; echoes: {summary(self.echoes)}; "
            f"handler error: {self.error!r}"
        )

    def check(self):
        assert self.error is None, self.describe("the handler failed")
        assert self.subprotocol == SUBPROTOCOL
        assert self.report["protocol"] == SUBPROTOCOL, self.report
        # Chromium offers permessage-deflate; the server accepts it unless told not to.
        assert self.offered is not None and self.offered.startswith("permessage-deflate")
        if self.compression is not None:
            assert self.accepted is not None and self.accepted.startswith("permessage-deflate")
            assert self.extensions == ["permessage-deflate"]
            assert self.report["extensions"] == self.accepted, self.report
            if self.compression == "tuned":
                parameters = {parameter.strip() for parameter in self.accepted.split(";")[1:]}
                assert parameters == {
                    "server_no_context_takeover",
                    "client_no_context_takeover",
                    "server_max_window_bits=10",
                    "client_max_window_bits=11",
                }, self.accepted
        else:
            assert self.accepted is None
            assert self.extensions == []
            assert self.report["extensions"] == "", self.report
        expected = page_messages()
        assert summary(self.received) == summary(expected)
        for got, want in zip(self.received, expected, strict=True):
            assert type(got) is type(want) and got == want, summary([want])
        assert summary(self.echoes) == summary([back for _, back in SERVER_MESSAGES])
        for got, (_, want) in zip(self.echoes, SERVER_MESSAGES, strict=True):
            assert type(got) is type(want) and got == want, summary([want])
        assert self.report["failures"] == [], self.report
        assert self.report["echoed"] == len(SERVER_MESSAGES)
        if self.closer == "page":
            assert self.close_exc is not None
            assert (self.close_exc.rcvd.code, self.close_exc.rcvd.reason) == (4000, "done ☃")
        else:
            # Chromium answers with the code it got; the page saw a clean close.
            assert self.closed == (4001, "server done ☃"), self.closed
            assert self.page_close_event() == {
                "code": 4001,
                "reason": "server done ☃",
                "wasClean": True,
            }


def asyncio_handler(page_run):
    async def conversation(ws):
        while (message := await ws.recv()) != "phase2":
            page_run.received.append(message)
            await ws.send(message)
        pong = await ws.ping(b"wsfast ping")
        await pong
        for message, _ in SERVER_MESSAGES:
            await ws.send(message)
            page_run.echoes.append(await ws.recv())
        await ws.send("end")
        report = await ws.recv()
        page_run.report = json.loads(report.removeprefix("report:"))
        if page_run.closer == "server":
            await ws.close(4001, "server done ☃")
            page_run.closed = (ws.close_code, ws.close_reason)
        else:
            try:
                await ws.recv()
            except ConnectionClosed as exc:
                page_run.close_exc = exc

    async def handler(ws):
        try:
            page_run.opened(ws)
            await asyncio.wait_for(conversation(ws), PAGE_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - reported by the test, with context
            page_run.error = exc
        finally:
            page_run.done.set()

    return handler


def sync_handler(page_run):
    def handler(ws):
        try:
            page_run.opened(ws)
            while (message := ws.recv(timeout=WAIT)) != "phase2":
                page_run.received.append(message)
                ws.send(message)
            assert ws.ping(b"wsfast ping").wait(WAIT), "no pong from Chromium"
            for message, _ in SERVER_MESSAGES:
                ws.send(message)
                page_run.echoes.append(ws.recv(timeout=WAIT))
            ws.send("end")
            report = ws.recv(timeout=WAIT)
            page_run.report = json.loads(report.removeprefix("report:"))
            if page_run.closer == "server":
                ws.close(4001, "server done ☃")
                page_run.closed = (ws.close_code, ws.close_reason)
            else:
                try:
                    ws.recv(timeout=WAIT)
                except ConnectionClosed as exc:
                    page_run.close_exc = exc
        except Exception as exc:  # noqa: BLE001 - reported by the test, with context
            page_run.error = exc
        finally:
            page_run.done.set()

    return handler


# Tests -----------------------------------------------------------------------------------


@COMPRESSION
def test_chromium_against_asyncio_server(chromium, compression):
    page_run = PageRun(compression)
    page_messages()  # built before the clock starts

    async def main():
        async with asyncio_server.serve(
            asyncio_handler(page_run),
            "127.0.0.1",
            0,
            process_request=page_run.process_request,
            subprotocols=[SUBPROTOCOL],
            open_timeout=WAIT,
            close_timeout=WAIT,
            **compression_options(compression),
        ) as server:
            port = server.sockets[0].getsockname()[1]
            async with browser_tab_async(chromium, page_run.url(port)):
                await page_run.wait_finished_async(PAGE_TIMEOUT)

    run(main(), timeout=PAGE_TIMEOUT + 20)
    page_run.check()


@COMPRESSION
def test_chromium_against_sync_server(chromium, compression):
    page_run = PageRun(compression)
    page_messages()
    with serving_sync(
        sync_server.serve,
        sync_handler(page_run),
        "127.0.0.1",
        0,
        process_request=page_run.process_request,
        subprotocols=[SUBPROTOCOL],
        close_timeout=WAIT,
        **compression_options(compression),
    ) as server:
        port = server.socket.getsockname()[1]
        with browser_tab(chromium, page_run.url(port)):
            page_run.wait_finished(PAGE_TIMEOUT)
    page_run.check()
