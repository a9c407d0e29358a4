"""Reporting a run from training code: ``RUN_STATE`` at start and end, ``RUN_METRIC`` samples sent
in batches by a background thread that never blocks the training loop beyond an enqueue.

A sample is never lost silently. Batches are bounded by bytes (under the server's 1 MiB body
limit) as well as by count, and a batch the server finds too large (413) is split and resent.
Every batch carries an idempotency key derived from the samples it holds, so a batch retried
after a lost answer is stored once. While the server cannot be reached (or answers 5xx/429), the
same batch is retried with backoff; meanwhile at most ``max_queued`` samples wait in memory and
the older ones on disk (``spool.py``: up to ``max_spool_bytes``, a warning says so once and a
summary at the end). Only past that are the oldest dropped: a warning says so once,
:attr:`Run.dropped` counts them, and the run's final ``RUN_STATE`` says how many were lost (its
``reason``)."""

from __future__ import annotations

import atexit
import json
import math
import sys
import threading
import time
import uuid
import warnings
from collections import deque
from pathlib import Path
from urllib.parse import quote
from typing import TYPE_CHECKING, Any, Deque, Dict, List, Mapping, Optional, Tuple, Union

from .errors import ConnectionFailed, HeraldError, TooLarge, Unavailable
from .spool import DEFAULT_DIR, Spool

if TYPE_CHECKING:
    from .client import Herald

Number = Union[int, float]

#: The most bytes of samples a batch carries by default: well under the server's 1 MiB limit on a
#: request body, with room for the envelope.
MAX_BATCH_BYTES = 512 * 1024


def _retryable(error: HeraldError) -> bool:
    """Whether the same request may succeed later: the server was unreachable, busy or failing."""
    return isinstance(error, (ConnectionFailed, Unavailable)) or error.status == 429 or error.status >= 500


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

    At most ``batch_size`` samples (and ``max_batch_bytes`` of them) are sent together, at least
    every ``flush_interval`` seconds; while the server cannot be reached the sender retries the
    same batch with backoff, keeps at most ``max_queued`` samples waiting in memory and the older
    ones in a file under ``spool_dir`` (default: a directory of the user's in the temporary
    directory), at most ``max_spool_bytes`` of them (0: no file). Past that the oldest are
    dropped, a warning says so once, and the run's end reports how many.

    A run ends ``FINISHED`` when its ``with`` block ends normally or by ``sys.exit(0)``, and
    ``FAILED`` on an exception, with or without ``with`` (an uncaught exception is seen through
    ``sys.excepthook``, and the run is ended when the interpreter exits). A run that logs nothing
    for ``heartbeat_interval`` seconds sends a heartbeat, so the server does not take a quiet run
    for a crashed one.
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
        max_batch_bytes: int = MAX_BATCH_BYTES,
        heartbeat_interval: float = 30.0,
        spool_dir: Optional[str] = None,
        max_spool_bytes: int = 512 << 20,
    ) -> None:
        self.client = client
        self.entity = entity
        self.project = project
        self.run_id = run_id or uuid.uuid4().hex
        self.name = name or self.run_id
        self._batch_size = max(1, min(batch_size, 1000))
        self._max_bytes = max(1024, max_batch_bytes)
        self._interval = flush_interval
        # (sequence number, event) waiting to be sent; the batch being sent is taken out of it
        # (`_inflight`, with each event's size), so dropping for room never touches it and a
        # retry sends exactly the same samples under the same idempotency key.
        self._queue: Deque[Tuple[int, Dict[str, Any]]] = deque()
        self._inflight: List[Tuple[int, Dict[str, Any], int]] = []
        # The rest of a batch the server found too large: sent before anything else.
        self._front: List[Tuple[int, Dict[str, Any], int]] = []
        self._refused = 0
        # The server reports a run that sends nothing for a while (`[runs] crash_after`, 5 min by
        # default) as crashed: a quiet run says it is alive this often.
        self._heartbeat_every = heartbeat_interval
        self._last_contact = time.monotonic()
        # Past `max_queued` in memory, samples wait on disk (0 bytes: no spool).
        self._spool = (
            Spool(Path(spool_dir) if spool_dir else DEFAULT_DIR, self.run_id, max_spool_bytes)
            if max_spool_bytes > 0 else None
        )
        self._spooled = 0
        self._seq = 0
        self._max_queued = max_queued
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._dropped = 0
        self._warned = False
        self._finished = False
        self._deadline: Optional[float] = None
        self._failed_by: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._send_loop, name=f"herald-run-{self.run_id}", daemon=True)
        self._state("RUNNING")
        self._thread.start()
        _watch_uncaught(self)
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
            self._seq += 1
            if len(self._queue) + len(self._inflight) + len(self._front) >= self._max_queued:
                # The oldest in memory moves to disk (or, with no room there either, is lost).
                oldest = self._queue.popleft() if self._queue else (self._seq, event)
                if self._spool is not None and self._spool.put(*oldest):
                    self._spooled += 1
                    if self._spooled == 1:
                        warnings.warn(
                            f"herald: the server is unreachable; samples of run {self.run_id} "
                            f"beyond {self._max_queued} wait in {self._spool.path}"
                        )
                else:
                    self._dropped += 1
                if not self._queue and oldest[0] == self._seq:
                    return
            self._queue.append((self._seq, event))
            full = len(self._queue) >= self._batch_size
        if full:
            self._wake.set()

    def finish(self, failed: bool = False, timeout: float = 30.0) -> None:
        """Sends what is queued (waiting at most ``timeout`` seconds), then ``FINISHED`` (or
        ``FAILED``). Samples that could not be sent are counted in the final state's ``reason``."""
        if self._finished:
            return
        self._finished = True
        _unwatch(self)
        self._deadline = time.monotonic() + timeout
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout)
        self._warn_dropped()
        with self._lock:
            unsent = (len(self._queue) + len(self._inflight) + len(self._front)
                      + (len(self._spool) if self._spool else 0))
            if self._spool is not None:
                self._spool.close()
        if self._spooled:
            warnings.warn(f"herald: run {self.run_id}: {self._spooled} samples waited on disk while "
                          f"the server was unreachable; {unsent} were still unsent at the end")
        lost = self._dropped + self._refused + unsent
        reason = None
        if self._failed_by is not None:
            reason = f"{type(self._failed_by).__name__}: {self._failed_by}"[:200]
        if lost:
            note = f"{lost} metric samples were lost"
            reason = f"{reason}; {note}" if reason else note
            warnings.warn(f"herald: run {self.run_id}: {note} ({self._dropped} for room while the "
                          f"server was unreachable, {self._refused} refused by it, {unsent} not sent "
                          "in time)")
        self._state("FAILED" if failed else "FINISHED", reason)

    @property
    def queued(self) -> int:
        """Samples waiting to be sent (the batch being sent and those on disk included)."""
        with self._lock:
            return (len(self._queue) + len(self._inflight) + len(self._front)
                    + (len(self._spool) if self._spool else 0))

    @property
    def dropped(self) -> int:
        """Samples dropped because the queue was full while the server was unreachable."""
        return self._dropped

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        # `sys.exit(0)` (or `sys.exit()`) is a normal end, as W&B takes it; any other exit code
        # or exception is a failure.
        clean_exit = isinstance(exc, SystemExit) and exc.code in (0, None)
        failed = exc_type is not None and not clean_exit
        if failed and isinstance(exc, BaseException):
            self._failed_by = exc
        self.finish(failed=failed)

    # -- the sender ------------------------------------------------------------------------

    def _state(self, state: str, reason: Optional[str] = None) -> None:
        event = {
            "type": "RUN_STATE",
            "entity": self.entity,
            "project": self.project,
            "run_id": self.run_id,
            "run_name": self.name,
            "state": state,
        }
        if reason:
            event["reason"] = reason
        # The key makes a retried post create nothing new.
        self.client.send_event(event, idempotency_key=f"run:{self.run_id}:{state}")

    def _take(self) -> List[Tuple[int, Dict[str, Any], int]]:
        """Takes the next batch out of the queue: at most ``batch_size`` samples and
        ``max_batch_bytes`` of them (at least one)."""
        batch: List[Tuple[int, Dict[str, Any], int]] = []
        size = 0
        with self._lock:
            if self._front:
                while self._front and len(batch) < self._batch_size:
                    if batch and size + self._front[0][2] > self._max_bytes:
                        break
                    size += self._front[0][2]
                    batch.append(self._front.pop(0))
                return batch
            # What waits on disk is older than anything in memory: it goes first.
            if self._spool is not None and len(self._spool):
                return self._spool.take(self._batch_size, self._max_bytes)
            while self._queue and len(batch) < self._batch_size:
                seq, event = self._queue[0]
                bytes_ = len(json.dumps(event, separators=(",", ":"))) + 1
                if batch and size + bytes_ > self._max_bytes:
                    break
                self._queue.popleft()
                batch.append((seq, event, bytes_))
                size += bytes_
        return batch

    def _key(self, batch: List[Tuple[int, Dict[str, Any], int]]) -> str:
        """The batch's idempotency key: the same samples always get the same key."""
        return f"herald-py:{self.run_id}:{batch[0][0]}-{batch[-1][0]}:{len(batch)}"

    def _send_loop(self) -> None:
        backoff = 0.1
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            while True:
                if not self._inflight:
                    taken = self._take()
                    with self._lock:
                        self._inflight = taken
                if not self._inflight:
                    break
                batch = self._inflight
                try:
                    self.client.send_events([event for _, event, _ in batch], idempotency_key=self._key(batch))
                except TooLarge:
                    if len(batch) == 1:
                        # One sample over the server's limit can never be taken: say so.
                        self._refused += 1
                        warnings.warn(f"herald: a metric sample of {batch[0][2]} bytes is over the "
                                      "server's request limit and was not sent")
                    else:
                        # Send the first half now and put the rest back in front; later batches
                        # are kept under the size that was refused.
                        half = len(batch) // 2
                        self._max_bytes = max(1024, sum(b for _, _, b in batch[:half]))
                        with self._lock:
                            self._front[:0] = batch[half:]
                            self._inflight = batch[:half]
                        continue
                except HeraldError as error:
                    if _retryable(error):
                        self._warn_dropped()
                        if self._deadline is not None and time.monotonic() > self._deadline:
                            return
                        time.sleep(backoff)
                        backoff = min(backoff * 2, 2.0)
                        continue
                    # A batch the server refuses is never accepted: count it and say why.
                    self._refused += len(batch)
                    warnings.warn(f"herald: {len(batch)} metric samples were refused: {error}")
                with self._lock:
                    self._inflight = []
                self._last_contact = time.monotonic()
                backoff = 0.1
            if self._stopping:
                return
            if time.monotonic() - self._last_contact >= self._heartbeat_every:
                self._heartbeat()

    def _heartbeat(self) -> None:
        path = (f"/v1/entities/{quote(self.entity, safe='')}/projects/{quote(self.project, safe='')}"
                f"/runs/{quote(self.run_id, safe='')}/heartbeat")
        try:
            self.client.request("POST", path)
            self._last_contact = time.monotonic()
        except HeraldError:
            # Unreachable now: the next one will say it; samples waiting say it too.
            pass

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
                self.finish(failed=self._failed_by is not None, timeout=5.0)
            except HeraldError:
                pass


# Runs not finished yet, told when an exception goes uncaught: they end FAILED at exit.
_open_runs: "List[Run]" = []
_open_lock = threading.Lock()
_previous_hook = sys.excepthook


def _uncaught(kind: type, error: BaseException, tb: Any) -> None:
    with _open_lock:
        runs = list(_open_runs)
    for run in runs:
        if run._failed_by is None:
            run._failed_by = error
    _previous_hook(kind, error, tb)


def _watch_uncaught(run: Run) -> None:
    with _open_lock:
        _open_runs.append(run)
        if sys.excepthook is not _uncaught:
            global _previous_hook
            _previous_hook = sys.excepthook
            sys.excepthook = _uncaught


def _unwatch(run: Run) -> None:
    with _open_lock:
        if run in _open_runs:
            _open_runs.remove(run)
