"""Reporting a run from training code: ``RUN_STATE`` at start and end, ``RUN_METRIC`` samples sent
in batches by a background thread that never blocks the training loop beyond an enqueue."""

from __future__ import annotations

import atexit
import math
import threading
import time
import uuid
import warnings
from collections import deque
from typing import TYPE_CHECKING, Any, Deque, Dict, List, Mapping, Optional, Tuple, Union

from .errors import ConnectionFailed, HeraldError, Unavailable

if TYPE_CHECKING:
    from .client import Herald

Number = Union[int, float]


def metric_value(value: Number) -> Union[float, str]:
    """A metric value in the form the server accepts: JSON has no NaN or infinities."""
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


class Run:
    """One run's reporter. Use it as a context manager, or call :meth:`finish`.

    ``batch_size`` events are sent together at most every ``flush_interval`` seconds; while the
    server cannot be reached the sender retries with backoff and keeps at most ``max_queued``
    events (the oldest are dropped, and a warning says so once).
    """

    def __init__(
        self,
        client: "Herald",
        entity: str,
        project: str,
        run_id: Optional[str] = None,
        name: Optional[str] = None,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        max_queued: int = 100_000,
    ) -> None:
        self.client = client
        self.entity = entity
        self.project = project
        self.run_id = run_id or uuid.uuid4().hex
        self.name = name or self.run_id
        self._batch_size = max(1, min(batch_size, 1000))
        self._interval = flush_interval
        # (sequence number, event): what a sent batch removes is found by number, so samples
        # dropped for room while a batch was in flight cannot make it remove unsent ones.
        self._queue: Deque[Tuple[int, Dict[str, Any]]] = deque()
        self._seq = 0
        self._max_queued = max_queued
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._dropped = 0
        self._warned = False
        self._finished = False
        self._deadline: Optional[float] = None
        self._thread = threading.Thread(target=self._send_loop, name=f"herald-run-{self.run_id}", daemon=True)
        self._state("RUNNING")
        self._thread.start()
        atexit.register(self._at_exit)

    # -- what training code calls ----------------------------------------------------------

    def log(self, metrics: Mapping[str, Number], step: Optional[int] = None) -> None:
        """Queues one sample of several metrics; returns at once."""
        event: Dict[str, Any] = {
            "type": "RUN_METRIC",
            "entity": self.entity,
            "project": self.project,
            "run_id": self.run_id,
            "run_name": self.name,
            "metrics": {name: metric_value(value) for name, value in metrics.items()},
        }
        if step is not None:
            event["step"] = int(step)
        with self._lock:
            if len(self._queue) >= self._max_queued:
                self._queue.popleft()
                self._dropped += 1
            self._seq += 1
            self._queue.append((self._seq, event))
            full = len(self._queue) >= self._batch_size
        if full:
            self._wake.set()

    def finish(self, failed: bool = False, timeout: float = 30.0) -> None:
        """Sends what is queued (waiting at most ``timeout`` seconds), then ``FINISHED`` (or
        ``FAILED``)."""
        if self._finished:
            return
        self._finished = True
        self._deadline = time.monotonic() + timeout
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout)
        self._warn_dropped()
        self._state("FAILED" if failed else "FINISHED")

    @property
    def queued(self) -> int:
        """Samples waiting to be sent."""
        with self._lock:
            return len(self._queue)

    @property
    def dropped(self) -> int:
        """Samples dropped because the queue was full while the server was unreachable."""
        return self._dropped

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.finish(failed=exc_type is not None)

    # -- the sender ------------------------------------------------------------------------

    def _state(self, state: str) -> None:
        event = {
            "type": "RUN_STATE",
            "entity": self.entity,
            "project": self.project,
            "run_id": self.run_id,
            "run_name": self.name,
            "state": state,
        }
        # The key makes a retried post create nothing new.
        self.client.send_event(event, idempotency_key=f"run:{self.run_id}:{state}")

    def _take(self) -> List[Tuple[int, Dict[str, Any]]]:
        with self._lock:
            return [self._queue[i] for i in range(min(self._batch_size, len(self._queue)))]

    def _send_loop(self) -> None:
        backoff = 0.1
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            while True:
                batch = self._take()
                if not batch:
                    break
                try:
                    self.client.send_events([event for _, event in batch])
                except (ConnectionFailed, Unavailable):
                    self._warn_dropped()
                    if self._deadline is not None and time.monotonic() > self._deadline:
                        return
                    time.sleep(backoff)
                    backoff = min(backoff * 2, 2.0)
                    continue
                except HeraldError as error:
                    # A batch the server refuses is never accepted: drop it and say why.
                    warnings.warn(f"herald: a batch of run metrics was refused: {error}")
                last = batch[-1][0]
                with self._lock:
                    while self._queue and self._queue[0][0] <= last:
                        self._queue.popleft()
                backoff = 0.1
            if self._stopping:
                return

    def _warn_dropped(self) -> None:
        if self._dropped and not self._warned:
            self._warned = True
            warnings.warn(
                f"herald: the server was unreachable; {self._dropped} metric samples of run "
                f"{self.run_id} were dropped (at most {self._max_queued} are kept)"
            )

    def _at_exit(self) -> None:
        if not self._finished:
            try:
                self.finish(timeout=5.0)
            except HeraldError:
                pass
