"""The service as its image runs it: ``{{ cookiecutter.project_slug }} serve``, a uvicorn process.

What only a real server shows: on SIGTERM (a rolling update, a scale-down) it stops
accepting connections, lets the requests in flight finish, cuts off what is still
unfinished after SHUTDOWN_TIMEOUT seconds, and exits; and a bad setting stops it with
one line naming the variable.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.cli import main

from data_support import request_records

SHUTDOWN_TIMEOUT = 1.5  # long enough for the answer in flight, short for the suite
COMMAND = [sys.executable, "-m", "{{ cookiecutter.package_name }}", "serve", "--host", "127.0.0.1"]


def free_port() -> int:
    with closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def server(bundle: Path, log: Path, **env: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """A running service on ``bundle``, once /ready answers 200; killed if still alive."""
    port = free_port()
    settings = {**os.environ, "MODEL_PATH": str(bundle), **env}
    with log.open("w") as output:
        process = subprocess.Popen(
            [*COMMAND, "--port", str(port)], env=settings, stdout=output, stderr=output
        )
    try:
        deadline = time.monotonic() + 60
        while not ready(port):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def half_sent(port: int, body: bytes) -> socket.socket:
    """A /predict request whose headers and first bytes arrived: in flight until the
    rest of the body follows."""
    connection = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = (
        "POST /predict HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    connection.sendall(head.encode() + body[:10])
    return connection


def response(connection: socket.socket) -> tuple[int, bytes]:
    """Status and body of the one response on ``connection``, read to its end."""
    data = b""
    while chunk := connection.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def accepts_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True
    except ConnectionRefusedError:
        return False


def test_sigterm_lets_requests_in_flight_finish(serving_bundle: Path, splits, schema, tmp_path):
    body = json.dumps({"records": request_records(splits[0].head(3), schema)}).encode()
    log = tmp_path / "server.log"
    timeout = str(SHUTDOWN_TIMEOUT)
    with server(serving_bundle, log, SHUTDOWN_TIMEOUT=timeout) as (process, port):
        finishing, stalled = half_sent(port, body), half_sent(port, body)
        time.sleep(0.5)  # the server reads both requests' headers: both are in flight
        process.send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        deadline = stopped_at + SHUTDOWN_TIMEOUT
        while accepts_connections(port):  # new connections are refused at once...
            assert time.monotonic() < deadline, "still accepting connections after SIGTERM"
            time.sleep(0.05)
        with finishing, stalled:
            finishing.sendall(body[10:])  # ...while a request in flight gets its answer
            status, answer = response(finishing)
            assert status == 200 and len(json.loads(answer)["predictions"]) == 3
            # One that never completes is cut off after SHUTDOWN_TIMEOUT, then it exits.
            assert response(stalled)[0] == 500
        returncode = process.wait(SHUTDOWN_TIMEOUT + 10)
        waited = time.monotonic() - stopped_at
    assert SHUTDOWN_TIMEOUT <= waited < SHUTDOWN_TIMEOUT + 10
    # uvicorn re-raises the signal once shut down: the process ends "by SIGTERM", cleanly.
    assert returncode in (0, -signal.SIGTERM), log.read_text()
    assert "Application shutdown complete" in log.read_text()


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SHUTDOWN_TIMEOUT", "-1", "error: SHUTDOWN_TIMEOUT: Input should be greater than 0"),
        ("MAX_BATCH_SIZE", "many", "error: MAX_BATCH_SIZE: Input should be a valid integer"),
    ],
)
def test_a_bad_setting_is_one_line(
    variable: str, value: str, message: str, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """Checked before uvicorn starts (in process: the same code path as the command)."""
    monkeypatch.setenv(variable, value)
    assert main(["serve"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), lines
