"""Fixtures: the real ``herald`` binary on an ephemeral port with a temporary data directory, and
a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

from herald_client import Herald

ADMIN_KEY = "hk_python-client-tests-admin-key-0123456789"
REPO = Path(__file__).resolve().parents[3]


def herald_binary() -> str:
    return os.environ.get("HERALD_BIN") or str(REPO / "target" / "debug" / "herald")


class Server:
    """A ``herald serve`` process, stopped by :meth:`stop`."""

    def __init__(self, data_dir: Path, port: int = 0, extra_config: str = "") -> None:
        self.data_dir = data_dir
        config = data_dir.parent / f"{data_dir.name}.toml"
        config.write_text(
            '[egress]\nallow_cidrs = ["127.0.0.0/8"]\n'
            '[delivery]\nretry_schedule = ["200ms", "200ms"]\njitter = 0.0\nrequest_timeout = "2s"\n'
            + extra_config
        )
        self.process = subprocess.Popen(
            [herald_binary(), "serve", "--listen", f"127.0.0.1:{port}", "--config", str(config),
             "--data-dir", str(data_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "HERALD_BOOTSTRAP_KEY": ADMIN_KEY, "HERALD_LOG": "warn"},
            text=True,
        )
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("herald listening on "):
                self.url = line.split("herald listening on ", 1)[1].strip()
                break
        else:
            raise RuntimeError("herald exited before listening")
        # Keep reading stdout so the pipe never fills.
        threading.Thread(target=self.process.stdout.read, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("herald") / "data")
    yield running
    running.stop()


@pytest.fixture
def admin(server: Server) -> Iterator[Herald]:
    with Herald(server.url, ADMIN_KEY) as client:
        yield client


class Receiver:
    """An HTTP server on 127.0.0.1 that records each request and answers 200, or for the first
    requests the (status, JSON body) ``answers`` lists."""

    def __init__(self, answers: Optional[List[Tuple[int, bytes]]] = None) -> None:
        self.requests: List[Dict[str, Any]] = []
        planned = list(answers or [])
        self._cond = threading.Condition()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                length = int(self.headers.get("content-length", 0))
                body = self.rfile.read(length)
                with receiver._cond:
                    receiver.requests.append({
                        "path": self.path,
                        "body": json.loads(body or b"null"),
                        "raw": body,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                    })
                    receiver._cond.notify_all()
                    status, answer = planned.pop(0) if planned else (200, b"ok")
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 20.0) -> List[Dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"only {len(self.requests)} of {count} requests arrived"
                self._cond.wait(left)
            return list(self.requests)

    def stop(self) -> None:
        self._server.shutdown()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.stop()
