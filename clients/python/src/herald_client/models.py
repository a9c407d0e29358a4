"""Typed results. Each keeps the API's whole answer in ``raw`` for fields added later."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional


@dataclass(frozen=True)
class Ingested:
    """What posting an event did."""

    event_id: str
    matched: int
    duplicate: bool

    @classmethod
    def from_api(cls, data: Dict[str, Any]) -> "Ingested":
        return cls(data["event_id"], int(data["matched"]), bool(data["duplicate"]))


@dataclass(frozen=True)
class Execution:
    """One triggering of one automation by one event."""

    id: str
    event_id: str
    automation_id: str
    status: str
    status_reason: Optional[str]
    attempts: int
    payload: Any
    raw: Dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Dict[str, Any]) -> "Execution":
        return cls(
            data["id"],
            data["event_id"],
            data["automation_id"],
            data["status"],
            data.get("status_reason"),
            int(data.get("attempts", 0)),
            data.get("payload"),
            data,
        )


@dataclass(frozen=True)
class Event:
    """A stored event and the executions it triggered."""

    id: str
    type: str
    body: Dict[str, Any]
    executions: List[Execution]

    @classmethod
    def from_api(cls, data: Dict[str, Any]) -> "Event":
        event = data["event"]
        return cls(
            event["id"],
            event["type"],
            event,
            [Execution.from_api(e) for e in data.get("executions", [])],
        )


@dataclass(frozen=True)
class Automation:
    """An automation: scope, trigger, action."""

    id: str
    name: str
    enabled: bool
    scope: Dict[str, Any]
    event: Dict[str, Any]
    action: Dict[str, Any]
    description: str
    raw: Dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Dict[str, Any]) -> "Automation":
        return cls(
            data["id"],
            data["name"],
            bool(data["enabled"]),
            data["scope"],
            data["event"],
            data["action"],
            data.get("description", ""),
            data,
        )


@dataclass(frozen=True)
class Integration:
    """An integration: where requests go, and the names of its secrets."""

    name: str
    kind: str
    url: Optional[str]
    raw: Dict[str, Any] = field(repr=False, compare=False)
    #: The secrets its automations' payload templates may name, besides its own credentials.
    secrets: List[str] = field(default_factory=list)

    @classmethod
    def from_api(cls, data: Dict[str, Any]) -> "Integration":
        return cls(data["name"], data["kind"], data.get("url"), data, list(data.get("secrets") or []))


@dataclass(frozen=True)
class Plugin:
    """An installed action plugin."""

    name: str
    version: str
    description: str
    config_schema: Dict[str, Any]
    raw: Dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Dict[str, Any]) -> "Plugin":
        return cls(
            data["name"],
            data["version"],
            data["description"],
            data.get("config_schema", {}),
            data,
        )


@dataclass(frozen=True)
class QueueItem:
    """A launch queue item: one run of a job version."""

    id: str
    queue: str
    job: str
    status: str
    config: Dict[str, Any]
    exit_code: Optional[int]
    raw: Dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Dict[str, Any]) -> "QueueItem":
        return cls(
            data["id"],
            data["queue"],
            data["job"],
            data["status"],
            data.get("config", {}),
            data.get("exit_code"),
            data,
        )


@dataclass(frozen=True)
class Job:
    """One version of a launch job."""

    name: str
    version: int
    command: List[str]
    env: Dict[str, str]
    config: Dict[str, Any]
    raw: Dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Dict[str, Any]) -> "Job":
        return cls(data["name"], int(data["version"]), data["command"], data.get("env", {}),
                   data.get("config", {}), data)


@dataclass(frozen=True)
class Queue:
    """A launch queue."""

    name: str
    created_at: str

    @classmethod
    def from_api(cls, data: Dict[str, Any]) -> "Queue":
        return cls(data["name"], data["created_at"])


@dataclass(frozen=True)
class ApiKey:
    """An API key as listed (the key itself is only in ``key``, once, when created)."""

    id: str
    role: str
    label: str
    key: Optional[str]
    raw: Dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Dict[str, Any]) -> "ApiKey":
        return cls(data["id"], data.get("role", ""), data.get("label", ""), data.get("key"), data)
