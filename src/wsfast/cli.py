"""``python -m wsfast``: interactive client, handshake probe, echo server.

* ``python -m wsfast URL`` connects and sends each line read from standard input as a text
  message, printing the messages received, like ``python -m websockets``. End of input
  (Ctrl-D, or the end of a pipe) closes the connection; lines ``/ping [text]`` and
  ``/close [code [reason]]`` send a ping or close, ``//...`` sends a line starting with ``/``.
* ``python -m wsfast probe URL ...`` performs one handshake and explains it (:mod:`.probe`).
* ``python -m wsfast serve --echo [--host H] [--port P]`` runs an echo server.
* ``python -m wsfast run uvicorn app:app`` runs a program with wsfast installed as websockets
  (:mod:`._launch`).

This module only parses arguments and drives the asyncio API; the probe lives in
:mod:`wsfast.probe`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import ssl
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

from . import __version__
from .exceptions import ConnectionClosed, InvalidURI
from .frames import Close

__all__ = ["main"]

# Without "usage: ", which argparse adds; the other lines are indented to match it.
USAGE = """\
python -m wsfast [--insecure] [--linger SECONDS] URL
       python -m wsfast probe URL [--origin O] [--header 'Name: value']... [--subprotocol P]
                              [--json] [--timeout S] [--proxy URL | --no-proxy]
                              [--cafile FILE] [--insecure] [--causes FILE]
       python -m wsfast serve --echo [--host 127.0.0.1] [--port 8765]
       python -m wsfast run (CONSOLE_SCRIPT | -m MODULE | FILE) [ARGS...]
       python -m wsfast --version
"""

CLIENT_HELP = """\
Interactive WebSocket client: each line of standard input is sent as a text message,
each message received is printed ("< text", "< (binary) hex"). End of input (Ctrl-D, or
the end of a pipe) closes the connection; with a pipe, once the server has been quiet for
--linger seconds, so that the replies to the last lines are printed. Commands:
  /ping [text]            send a ping, print the pong's round-trip time
  /close [code [reason]]  close the connection (default 1000)
  //text                  send "/text" (a line that starts with "/")
Other subcommands: "probe" explains a failing handshake, "serve --echo" runs an echo server;
"python -m wsfast probe --help" for details.
"""

# Control characters (C0, DEL, C1) would move the cursor or recolour a terminal: they are
# printed as Python escapes, so that a message shows as one line.
_CONTROL_ESCAPES = {
    code: repr(chr(code))[1:-1] for code in (*range(0x20), *range(0x7F, 0xA0))
}


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def printable(text: str) -> str:
    return text.translate(_CONTROL_ESCAPES)


# The interactive client ----------------------------------------------------------------------


class _Console:
    """Writes lines without garbling the line being typed, when there is a terminal.

    In a terminal, a message that arrives while the user types is inserted above the
    input line (VT100: save cursor, open a line above, restore); with pipes, plain lines.
    """

    def __init__(self) -> None:
        self.interactive = sys.stdin.isatty() and sys.stdout.isatty()

    def prompt(self) -> None:
        if self.interactive:
            sys.stdout.write("> ")
            sys.stdout.flush()

    def line(self, text: str) -> None:
        if self.interactive:
            # ESC 7 saves the cursor, LF + ESC [A + ESC [L opens a blank line above the
            # input, ESC 8 restores the cursor and ESC [B moves it back down.
            sys.stdout.write(f"\x1b7\n\x1b[A\x1b[L{text}\n\x1b8\x1b[B")
        else:
            sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def final(self, text: str) -> None:
        if self.interactive:
            sys.stdout.write("\r\x1b[K")  # erase the prompt line
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


def _read_stdin(loop: asyncio.AbstractEventLoop, lines: asyncio.Queue[str | None],
                console: _Console) -> None:
    """Read lines in a thread: portable (no add_reader on Windows pipes), and a daemon
    thread never keeps Ctrl-C from ending the program."""

    def post(item: str | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed: the program is ending
            loop.call_soon_threadsafe(lines.put_nowait, item)

    while True:
        console.prompt()
        line = sys.stdin.readline()
        if not line:
            post(None)
            return
        post(line.rstrip("\r\n"))


async def _print_incoming(websocket: Any, console: _Console, activity: asyncio.Event) -> None:
    try:
        async for message in websocket:
            activity.set()
            if isinstance(message, str):
                console.line("< " + printable(message))
            else:
                console.line("< (binary) " + message.hex())
    except ConnectionClosed:
        pass


async def _report_pong(waiter: Any, console: _Console) -> None:
    try:
        latency = await waiter
    except ConnectionClosed:
        return
    console.line(f"< pong ({latency * 1000:.1f} ms)")


async def _send_outgoing(websocket: Any, lines: asyncio.Queue[str | None], console: _Console,
                         activity: asyncio.Event, linger: float) -> None:
    pongs: set[asyncio.Task[None]] = set()
    while True:
        line = await lines.get()
        if line is None:
            break
        try:
            if line.startswith("//"):
                await websocket.send(line[1:])
            elif line == "/ping" or line.startswith("/ping "):
                payload = line[6:].encode()
                waiter = await websocket.ping(payload or None)
                task = asyncio.ensure_future(_report_pong(waiter, console))
                pongs.add(task)
                task.add_done_callback(pongs.discard)
            elif line == "/close" or line.startswith("/close "):
                code, reason = _parse_close(line[7:])
                await _wait_until_quiet(activity, linger)
                await websocket.close(code, reason)
                return
            else:
                await websocket.send(line)
        except ConnectionClosed:
            return
        except ValueError as exc:
            console.line(f"! {exc}")
    await _wait_until_quiet(activity, linger)
    await websocket.close()


async def _wait_until_quiet(activity: asyncio.Event, linger: float) -> None:
    """Before closing, let the server answer the last lines.

    With a pipe, end of input (or a /close line) comes right after the lines it follows,
    before the server replied; a Close frame sent at once would make the server drop the
    replies it hadn't sent yet (it answers Close with Close, RFC 6455 §5.5.1). So keep
    printing until the server has been quiet for ``linger`` seconds, within a bound.
    """
    if linger <= 0:
        return
    loop = asyncio.get_running_loop()
    give_up = loop.time() + max(10 * linger, 5.0)
    while loop.time() < give_up:
        activity.clear()
        try:
            await asyncio.wait_for(activity.wait(), min(linger, give_up - loop.time()))
        except asyncio.TimeoutError:
            return


def _parse_close(arguments: str) -> tuple[int, str]:
    code_text, _, reason = arguments.strip().partition(" ")
    if not code_text:
        return 1000, ""
    try:
        return int(code_text), reason
    except ValueError:
        raise ValueError(f"/close takes a numeric code, not {code_text!r}") from None


async def interactive_client(uri: str, *, ssl_context: ssl.SSLContext | None = None,
                             linger: float | None = None) -> int:
    """Run the interactive client; return the exit status."""
    from .asyncio.client import connect

    console = _Console()
    if linger is None:
        linger = 0.0 if console.interactive else 0.5
    kwargs: dict[str, Any] = {}
    if ssl_context is not None:
        kwargs["ssl"] = ssl_context
    try:
        websocket = await connect(uri, **kwargs)
    except Exception as exc:  # noqa: BLE001 - any failure to connect is reported, not raised
        console.final(f"Failed to connect to {uri}: {exc}.")
        console.final(f"Run `python -m wsfast probe {uri}` to see why.")
        return 1
    console.final(f"Connected to {uri}.")

    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    activity = asyncio.Event()
    threading.Thread(target=_read_stdin, args=(loop, lines, console), daemon=True).start()
    incoming = asyncio.ensure_future(_print_incoming(websocket, console, activity))
    outgoing = asyncio.ensure_future(
        _send_outgoing(websocket, lines, console, activity, linger)
    )
    try:
        # Done when the server closes (incoming ends) or the user ends input or sends
        # /close (outgoing closes, then incoming ends as the close handshake completes).
        await asyncio.wait([incoming], return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        # Ctrl-C: asyncio.run() cancels this task; close quietly instead of a traceback.
        pass
    finally:
        outgoing.cancel()
        incoming.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await outgoing
    await websocket.close()
    code, reason = websocket.close_code, websocket.close_reason
    close = Close(1006 if code is None else code, reason or "")
    console.final(f"Connection closed: {printable(str(close))}.")
    return 0 if close.code in (1000, 1001, 1005) else 1


# The echo server -----------------------------------------------------------------------------


async def echo_server(host: str, port: int) -> int:
    """Serve until SIGINT or SIGTERM, echoing every message back."""
    from .asyncio.server import serve

    async def echo(websocket: Any) -> None:
        try:
            async for message in websocket:
                await websocket.send(message)
        except ConnectionClosed:
            # The client closed while its last messages were being echoed: nothing to
            # report, and the server must not log it as a handler failure.
            pass

    loop = asyncio.get_running_loop()
    stop: asyncio.Future[None] = loop.create_future()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows, threads
            loop.add_signal_handler(signum, _resolve, stop)
    async with serve(echo, host, port) as server:
        for sock in server.sockets:
            address = sock.getsockname()
            shown = f"[{address[0]}]" if ":" in address[0] else address[0]
            # Port 0 asks for a free port: this line says which one (tests read it).
            print(f"Listening on ws://{shown}:{address[1]} (echo). Ctrl-C stops.", flush=True)
        await stop
    print("Stopped.", flush=True)
    return 0


# Arguments -----------------------------------------------------------------------------------


def _client_ssl_context(cafile: str | None, insecure: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=cafile)
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _header_option(text: str) -> tuple[str, str]:
    from .probe import parse_header_option

    try:
        return parse_header_option(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def probe_main(argv: Sequence[str]) -> int:
    from . import probe

    parser = argparse.ArgumentParser(
        prog="python -m wsfast probe",
        description=(
            "Perform one WebSocket opening handshake and explain it: the request sent, the "
            "response received, a verdict and the likely causes of a failure with what to "
            "change. Exit status: 0 connected, 1 rejected, 2 unreachable."
        ),
    )
    parser.add_argument("url", metavar="URL", help="ws:// or wss:// URI")
    parser.add_argument("--origin", help="send this Origin header")
    parser.add_argument(
        "--header", action="append", default=[], type=_header_option, metavar="'NAME: VALUE'",
        help="set a request header, replacing the default one of that name (repeat for "
             "several values); an empty value removes it, e.g. 'Sec-WebSocket-Extensions:'",
    )
    parser.add_argument("--subprotocol", action="append", default=[], metavar="P",
                        help="offer this subprotocol (repeatable)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--timeout", type=float, default=probe.DEFAULT_TIMEOUT, metavar="S",
                        help="bound on the attempt in seconds (default %(default)s)")
    route = parser.add_mutually_exclusive_group()
    route.add_argument("--proxy", metavar="URL",
                       help="go through this http:// proxy (default: https_proxy or "
                            "http_proxy from the environment, as the client does)")
    route.add_argument("--no-proxy", action="store_true", help="connect directly")
    parser.add_argument("--cafile", help="trust the CA certificates in this PEM file")
    parser.add_argument("--insecure", action="store_true",
                        help="don't verify the server's TLS certificate")
    parser.add_argument("--causes", metavar="FILE",
                        help="match against the causes in this JSON file instead of the "
                             "built-in ones")
    args = parser.parse_args(argv)

    try:
        catalogue = probe.load_causes(args.causes)
    except (OSError, ValueError) as exc:
        parser.exit(2, f"python -m wsfast probe: can't load causes: {exc}\n")
    ssl_context = None
    if args.url.lower().startswith("wss:"):
        ssl_context = _client_ssl_context(args.cafile, args.insecure)
    proxy: str | bool | None = True
    if args.no_proxy:
        proxy = None
    elif args.proxy:
        proxy = args.proxy
    try:
        report = probe.probe(
            args.url, origin=args.origin, headers=args.header,
            subprotocols=args.subprotocol, timeout=args.timeout, proxy=proxy,
            ssl_context=ssl_context, causes=catalogue,
        )
    except (InvalidURI, ValueError) as exc:
        parser.exit(2, f"python -m wsfast probe: {exc}\n")
    sys.stdout.write(report.to_json() + "\n" if args.json else report.render_text())
    sys.stdout.flush()
    return report.exit_status


def serve_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m wsfast serve",
        description="Run a WebSocket server for quick tests. Logs connections at INFO.",
    )
    parser.add_argument("--echo", action="store_true", help="send every message back")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default %(default)s)")
    parser.add_argument("--port", type=int, default=8765,
                        help="port to listen on, 0 for any free one (default %(default)s)")
    args = parser.parse_args(argv)
    if not args.echo:
        parser.error("choose what the server does: --echo is the one built in")
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        level=logging.INFO)
    try:
        return asyncio.run(echo_server(args.host, args.port))
    except KeyboardInterrupt:  # where signal handlers aren't available
        return 0
    except OSError as exc:
        print(f"python -m wsfast serve: {exc}", file=sys.stderr)
        return 1


def client_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m wsfast", usage=USAGE,
                                     description=CLIENT_HELP, add_help=False,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--help", "-h", action="store_true", help="show this help and exit")
    parser.add_argument("--version", action="store_true", help="show the version and exit")
    parser.add_argument("--insecure", action="store_true",
                        help="don't verify the server's TLS certificate")
    parser.add_argument("--linger", type=float, default=None, metavar="SECONDS",
                        help="after end of input, wait until the server has been quiet this "
                             "long before closing (default 0.5 with a pipe, 0 in a terminal)")
    parser.add_argument("uri", metavar="URL", nargs="?")
    args = parser.parse_args(argv)
    # As websockets' main(): help and version exit 0, no URL prints the usage and exits 2,
    # both on standard output.
    if args.help:
        parser.print_help()
        sys.exit(0)
    if args.version:
        print(f"wsfast {__version__}")
        sys.exit(0)
    if args.uri is None:
        parser.print_usage()
        sys.exit(2)
    ssl_context = None
    if args.insecure and args.uri.lower().startswith("wss:"):
        ssl_context = _client_ssl_context(None, insecure=True)
    try:
        return asyncio.run(
            interactive_client(args.uri, ssl_context=ssl_context, linger=args.linger)
        )
    except KeyboardInterrupt:
        return 130


def _run_main(argv: Sequence[str]) -> int:
    from ._launch import run_main

    return run_main(argv)


#: ``python -m wsfast NAME ARGS...``: NAME's function, called with ARGS, returns the exit
#: status. Anything else goes to the interactive client, websockets' command line.
SUBCOMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "probe": probe_main,
    "serve": serve_main,
    "run": _run_main,
}


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``).

    Like websockets' ``main()``, returns once done; exits (:exc:`SystemExit`) only with a
    non-zero status, or for ``--help`` and ``--version``.
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    command = SUBCOMMANDS.get(arguments[0]) if arguments else None
    if command is not None:
        status = command(arguments[1:])
    else:
        status = client_main(arguments)
    if status:
        sys.exit(status)


# websockets.cli's helpers ---------------------------------------------------------------------
# The building blocks of websockets' interactive client, under its names, for code that
# imports them; wsfast's client above is built from _Console instead.

TERMINAL_ESCAPES = _CONTROL_ESCAPES


def escape(string: str) -> str:
    """Make ``string`` safe for a terminal: control characters become Python escapes."""
    return string.translate(TERMINAL_ESCAPES)


def print_during_input(string: str) -> None:
    """Print ``string`` on a line of its own above the input line being typed (VT100)."""
    # ESC 7 saves the cursor, LF + ESC [A + ESC [L opens a blank line above the input,
    # ESC 8 restores the cursor and ESC [B moves it back down.
    sys.stdout.write(f"\x1b7\n\x1b[A\x1b[L{string}\n\x1b8\x1b[B")
    sys.stdout.flush()


def print_over_input(string: str) -> None:
    """Print ``string`` in place of the input line (carriage return, erase the line)."""
    sys.stdout.write(f"\r\x1b[K{string}\n")
    sys.stdout.flush()


async def print_incoming_messages(websocket: Any) -> None:
    """Print each message that ``websocket`` receives, as ``< text`` or ``< (binary) hex``."""
    async for message in websocket:
        if isinstance(message, str):
            print_during_input("< " + escape(message))
        else:
            print_during_input("< (binary) " + message.hex())


def read_outgoing_messages(
    queue_for_sending: Callable[[str], None],
    notify_end_of_file: Callable[[], None],
) -> None:
    """Prompt for lines on standard input and pass each to ``queue_for_sending``, without
    its line ending; call ``notify_end_of_file`` at the end of input. Blocks: run it in a
    thread."""
    while True:
        sys.stdout.write("> ")
        sys.stdout.flush()
        line = sys.stdin.readline()
        if not line:
            notify_end_of_file()
            return
        queue_for_sending(line.rstrip("\r\n"))


async def send_outgoing_messages(websocket: Any, messages: asyncio.Queue[str]) -> None:
    """Send each message put in ``messages`` until the connection closes."""
    while True:
        message = await messages.get()
        try:
            await websocket.send(message)
        except ConnectionClosed:
            return
