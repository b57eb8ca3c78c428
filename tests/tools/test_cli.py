"""``python -m wsfast``: the interactive client with piped standard input, against
``python -m wsfast serve --echo`` started as a subprocess, and the command line's usage."""

from __future__ import annotations

import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from test_probe import free_port, wsfast_server

from wsfast import cli

TIMEOUT = 30

pytestmark = pytest.mark.usefixtures("no_error_logs")


def environment():
    # No proxy from the environment: every server here is on 127.0.0.1.
    return {name: value for name, value in os.environ.items()
            if not name.lower().endswith("_proxy")}


def wsfast_command(*arguments):
    return [sys.executable, "-m", "wsfast", *arguments]


def read_line(stream, timeout):
    """One line from a subprocess's pipe, or fail after ``timeout`` seconds."""
    selector = selectors.DefaultSelector()
    selector.register(stream, selectors.EVENT_READ)
    try:
        line = b""
        deadline = time.monotonic() + timeout
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            assert remaining > 0 and selector.select(remaining), f"no line in {timeout} s"
            chunk = os.read(stream.fileno(), 1)
            if not chunk:
                break
            line += chunk
        return line.decode()
    finally:
        selector.close()


@pytest.fixture
def echo_server_url():
    """``python -m wsfast serve --echo --port 0``; yields the URL it prints."""
    process = subprocess.Popen(
        wsfast_command("serve", "--echo", "--host", "127.0.0.1", "--port", "0"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment(),
    )
    try:
        line = read_line(process.stdout, TIMEOUT)
        match = re.match(r"Listening on (ws://127\.0\.0\.1:\d+) \(echo\)", line)
        assert match, line
        yield match.group(1) + "/"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            out, err = process.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise
    # SIGTERM stops the server cleanly: exit status 0, no traceback in its log.
    assert process.returncode == 0, err
    assert b"Stopped." in out
    assert b"Traceback" not in err and b"ERROR" not in err, err.decode()


def run_client(url, stdin_text, *arguments):
    return subprocess.run(
        wsfast_command(*arguments, url), check=False, input=stdin_text, capture_output=True, text=True,
        timeout=TIMEOUT, env=environment(),
    )


def test_piped_lines_are_echoed_and_end_of_input_closes(echo_server_url):
    result = run_client(echo_server_url, "a\nb\nhello ☃\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"Connected to {echo_server_url}.",
        "< a",
        "< b",
        "< hello ☃",
        "Connection closed: 1000 (OK).",
    ]
    assert result.stderr == ""


def test_commands_ping_close_and_slash_escape(echo_server_url):
    result = run_client(echo_server_url, "//literal\n/ping\n/close 1001 done\nnever sent\n")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"Connected to {echo_server_url}."
    assert "< /literal" in lines
    assert any(re.fullmatch(r"< pong \(\d+\.\d ms\)", line) for line in lines), lines
    assert "< never sent" not in lines
    assert lines[-1] == "Connection closed: 1001 (going away) done."


def test_control_characters_are_escaped(echo_server_url):
    result = run_client(echo_server_url, "bell\x07 and escape\x1b[31m\n")
    assert "< bell\\x07 and escape\\x1b[31m" in result.stdout.splitlines()


def test_empty_input_closes_at_once(echo_server_url):
    result = run_client(echo_server_url, "", "--linger", "0")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"Connected to {echo_server_url}.",
                                          "Connection closed: 1000 (OK)."]


def test_server_closing_ends_the_client():
    """The server closes after one message: the client exits though stdin stays open."""

    async def once(websocket):
        message = await websocket.recv()
        await websocket.send(f"got {message}")
        await websocket.close(1000, "bye")

    with wsfast_server(once) as port:
        url = f"ws://127.0.0.1:{port}/"
        process = subprocess.Popen(wsfast_command(url), stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   env=environment())
        try:
            assert read_line(process.stdout, TIMEOUT) == f"Connected to {url}.\n"
            process.stdin.write(b"ping\n")
            process.stdin.flush()
            assert read_line(process.stdout, TIMEOUT) == "< got ping\n"
            assert read_line(process.stdout, TIMEOUT) == "Connection closed: 1000 (OK) bye.\n"
            assert process.wait(TIMEOUT) == 0
        finally:
            process.kill()
            process.communicate()


def test_connection_failure_points_to_the_probe():
    url = f"ws://127.0.0.1:{free_port()}/"
    result = run_client(url, "")
    assert result.returncode == 1
    assert result.stdout.startswith(f"Failed to connect to {url}: ")
    assert f"python -m wsfast probe {url}" in result.stdout


def test_usage():
    def run(*arguments):
        return subprocess.run(
            wsfast_command(*arguments), check=False, capture_output=True, text=True,
            timeout=TIMEOUT, env=environment(), stdin=subprocess.DEVNULL,
        )

    version = run("--version")
    assert version.returncode == 0 and re.fullmatch(r"wsfast \S+\n", version.stdout)
    help_text = run("--help")
    assert help_text.returncode == 0
    for expected in ("python -m wsfast probe URL", "serve --echo", "/ping", "/close"):
        assert expected in help_text.stdout
    no_url = run()
    assert no_url.returncode == 2 and no_url.stdout.startswith("usage:")
    assert no_url.stderr == ""
    serve_without_handler = run("serve", "--port", "0")
    assert serve_without_handler.returncode == 2
    assert "--echo" in serve_without_handler.stderr


# main(argv) in-process, as websockets.cli.main(argv) behaves -------------------------------


@pytest.mark.parametrize("option", ["--help", "-h"])
def test_main_help_prints_to_stdout_and_exits_0(option, capsys):
    with pytest.raises(SystemExit) as raised:
        cli.main([option])
    assert raised.value.code == 0
    out, err = capsys.readouterr()
    assert out.startswith("usage: python -m wsfast ") and err == ""


def test_main_without_url_prints_usage_to_stdout_and_exits_2(capsys):
    with pytest.raises(SystemExit) as raised:
        cli.main([])
    assert raised.value.code == 2
    out, err = capsys.readouterr()
    assert out.startswith("usage: python -m wsfast ") and err == ""


def test_main_version_exits_0(capsys):
    with pytest.raises(SystemExit) as raised:
        cli.main(["--version"])
    assert raised.value.code == 0
    assert re.fullmatch(r"wsfast \S+\n", capsys.readouterr().out)


def test_main_returns_on_success_and_exits_with_a_failure_status(capsys):
    from wsfast.sync.server import serve

    with serve(lambda ws: None, "127.0.0.1", 0) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            uri = f"ws://127.0.0.1:{server.socket.getsockname()[1]}/"
            assert cli.main(["probe", uri, "--no-proxy", "--timeout", str(TIMEOUT)]) is None
        finally:
            server.shutdown()
            thread.join(TIMEOUT)
    capsys.readouterr()
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(SystemExit) as raised:
        cli.main(["probe", f"ws://127.0.0.1:{port}/", "--no-proxy", "--timeout", "2"])
    assert raised.value.code == 2


def test_subcommands_dispatch_through_one_table(monkeypatch):
    calls = []
    monkeypatch.setitem(cli.SUBCOMMANDS, "extra", lambda argv: calls.append(argv) or 0)
    assert cli.main(["extra", "a", "b"]) is None
    assert calls == [["a", "b"]]
    assert set(cli.SUBCOMMANDS) >= {"probe", "serve", "run"}
