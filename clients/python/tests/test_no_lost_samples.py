"""The run reporter never loses a sample silently, and ends runs as W&B users expect: samples too
large for one request are split, a batch whose answer was lost is stored once, ``sys.exit(0)``
finishes a run and an uncaught exception fails it, with or without ``with``."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import threading
import uuid
from pathlib import Path
from typing import List, Optional

from herald_client import Herald


def every_sample(admin: Herald, project: str, metric: str) -> str:
    """An automation that fires at every sample of ``metric`` in ``project``: its executions count
    the samples stored."""
    return admin.create_automation(
        {"scope": {"type": "project", "project": project},
         "event": {"type": "RUN_METRIC_THRESHOLD",
                   "metric": {"name": metric, "cmp": "$gt", "value": -1.0, "cooldown_seconds": 0}},
         "action": {"type": "no-op"}},
        name=f"every-{project}",
    ).id


def ends(admin: Herald, project: str) -> dict:
    """Automations on the project's FINISHED and FAILED run states."""
    return {
        state: admin.create_automation(
            {"scope": {"type": "project", "project": project},
             "event": {"type": "RUN_STATE", "filter": {"state": state}}, "action": {"type": "no-op"}},
            name=f"{state.lower()}-{project}",
        ).id
        for state in ("FINISHED", "FAILED")
    }


def test_a_hundred_metrics_a_step_are_all_stored(admin: Herald) -> None:
    project = f"wide-{uuid.uuid4().hex[:6]}"
    counted = every_sample(admin, project, "layer_00_grad_norm")
    # 600 steps of 100 metrics: about 2 MB, and 500 samples are more than the server takes in one
    # request. Byte-bounded batches send them all.
    with admin.run("default", project, flush_interval=0.05) as run:
        for step in range(600):
            run.log({f"layer_{i:02d}_grad_norm": 0.123456789 + i for i in range(100)}, step=step)
    assert run.dropped == 0
    assert len(admin.executions(counted, limit=1000)) == 600


def test_a_batch_the_server_finds_too_large_is_split_and_resent(admin: Herald) -> None:
    project = f"split-{uuid.uuid4().hex[:6]}"
    counted = every_sample(admin, project, "layer_00_grad_norm")
    # Told it may send 8 MB at once, the client meets the server's 413 and splits.
    with admin.run("default", project, flush_interval=0.05, max_batch_bytes=8 << 20) as run:
        for step in range(400):
            run.log({f"layer_{i:02d}_grad_norm": float(i) for i in range(100)}, step=step)
    assert len(admin.executions(counted, limit=1000)) == 400


class DroppingProxy:
    """A TCP proxy on 127.0.0.1 to the server that forwards every request, and for the first
    batch of events forwards it but hangs up instead of passing the answer on."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.removeprefix("http://").rsplit(":", 1)
        self.upstream = (host, int(port))
        self.dropped = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    @staticmethod
    def _read_message(sock: socket.socket, buffer: bytearray) -> Optional[bytes]:
        while b"\r\n\r\n" not in buffer:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            buffer.extend(chunk)
        head_end = buffer.index(b"\r\n\r\n") + 4
        length = 0
        for line in bytes(buffer[:head_end]).split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        while len(buffer) < head_end + length:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            buffer.extend(chunk)
        message = bytes(buffer[: head_end + length])
        del buffer[: head_end + length]
        return message

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(self.upstream)
        from_client, from_server = bytearray(), bytearray()
        try:
            while True:
                request = self._read_message(client, from_client)
                if request is None:
                    return
                upstream.sendall(request)
                response = self._read_message(upstream, from_server)
                if response is None:
                    return
                if request.startswith(b"POST /v1/events/batch") and self.dropped == 0:
                    self.dropped += 1
                    return  # the server stored it; the client never hears so
                client.sendall(response)
        finally:
            client.close()
            upstream.close()

    def close(self) -> None:
        self._listener.close()


def test_a_batch_whose_answer_was_lost_is_stored_once(server, admin: Herald) -> None:
    from conftest import ADMIN_KEY

    project = f"lossy-{uuid.uuid4().hex[:6]}"
    counted = every_sample(admin, project, "loss")
    jumped = admin.create_automation(
        {"scope": {"type": "project", "project": project},
         "event": {"type": "RUN_METRIC_CHANGE",
                   "metric": {"name": "loss", "current_window": 1, "prior_window": 1,
                              "change": "ABSOLUTE", "direction": "INCREASE", "amount": 5.0,
                              "cooldown_seconds": 0}},
         "action": {"type": "no-op"}},
        name=f"jump-{project}",
    ).id
    proxy = DroppingProxy(server.url)
    try:
        with Herald(proxy.url, ADMIN_KEY) as through_proxy:
            with through_proxy.run("default", project, batch_size=100, flush_interval=0.05) as run:
                for step in range(300):
                    run.log({"loss": 10.0 if step == 150 else 1.0}, step=step)
    finally:
        proxy.close()
    assert proxy.dropped == 1, "the proxy hung up on one batch"
    assert len(admin.executions(counted, limit=1000)) == 300
    assert len(admin.executions(jumped)) == 1


def run_script(server, project: str, body: str, tmp_path: Path) -> subprocess.CompletedProcess:
    from conftest import ADMIN_KEY

    script = tmp_path / f"{project}.py"
    script.write_text(textwrap.dedent(body))
    return subprocess.run(
        [sys.executable, str(script)],
        env={"HERALD_URL": server.url, "HERALD_KEY": ADMIN_KEY, "PROJECT": project,
             "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def counts(admin: Herald, automations: dict) -> List[int]:
    return [len(admin.executions(automations[s])) for s in ("FINISHED", "FAILED")]


def test_sys_exit_0_finishes_a_run_and_an_uncaught_exception_fails_it(server, admin: Herald, tmp_path) -> None:
    exited = f"exit0-{uuid.uuid4().hex[:6]}"
    exited_ends = ends(admin, exited)
    done = run_script(server, exited, """
        import os, sys
        from herald_client import Herald
        with Herald().run("default", os.environ["PROJECT"]) as run:
            run.log({"loss": 1.0}, step=0)
            sys.exit(0)
    """, tmp_path)
    assert done.returncode == 0, done.stderr
    assert counts(admin, exited_ends) == [1, 0]

    crashed = f"uncaught-{uuid.uuid4().hex[:6]}"
    crashed_ends = ends(admin, crashed)
    done = run_script(server, crashed, """
        import os
        from herald_client import Herald
        run = Herald().run("default", os.environ["PROJECT"])
        run.log({"loss": 1.0}, step=0)
        raise RuntimeError("CUDA out of memory")
    """, tmp_path)
    assert done.returncode == 1 and "CUDA out of memory" in done.stderr, done.stderr
    assert counts(admin, crashed_ends) == [0, 1]
    failed = admin.executions(crashed_ends["FAILED"])[0]
    event = admin.event(failed.event_id)
    assert "RuntimeError: CUDA out of memory" in event.body.get("reason", ""), event.body

    unfinished = f"noexc-{uuid.uuid4().hex[:6]}"
    unfinished_ends = ends(admin, unfinished)
    done = run_script(server, unfinished, """
        import os
        from herald_client import Herald
        run = Herald().run("default", os.environ["PROJECT"])
        run.log({"loss": 1.0}, step=0)
    """, tmp_path)
    assert done.returncode == 0, done.stderr
    assert counts(admin, unfinished_ends) == [1, 0]


def test_a_quiet_run_heartbeats_and_a_killed_one_is_reported_crashed(tmp_path) -> None:
    import time

    from conftest import ADMIN_KEY, Server

    server = Server(tmp_path / "data", extra_config='[runs]\ncrash_after = "1s"\n')
    try:
        with Herald(server.url, ADMIN_KEY) as admin:
            quiet = f"quiet-{uuid.uuid4().hex[:6]}"
            quiet_ends = ends(admin, quiet)
            with admin.run("default", quiet, heartbeat_interval=0.2, flush_interval=0.05) as run:
                run.log({"loss": 1.0}, step=0)
                time.sleep(2.5)  # logging nothing, well past crash_after
            assert counts(admin, quiet_ends) == [1, 0]

            killed = f"killed-{uuid.uuid4().hex[:6]}"
            killed_ends = ends(admin, killed)
            done = run_script(server, killed, """
                import os, signal
                from herald_client import Herald
                run = Herald().run("default", os.environ["PROJECT"], flush_interval=0.05)
                run.log({"loss": 1.0}, step=0)
                import time; time.sleep(0.5)  # the sample is sent; the run is still running
                os.kill(os.getpid(), signal.SIGKILL)
            """, tmp_path)
            assert done.returncode == -9, done.stderr
            deadline = time.monotonic() + 10
            while counts(admin, killed_ends) != [0, 1]:
                assert time.monotonic() < deadline, "the killed run was never reported"
                time.sleep(0.1)
            failed = admin.executions(killed_ends["FAILED"])[0]
            assert admin.event(failed.event_id).body["reason"] == "crashed"
    finally:
        server.stop()
