"""``Herald``: the API client. One method per route; results are typed objects."""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, Iterable, Iterator, List, Mapping, Optional
from urllib.parse import quote

import httpx

from .errors import ConnectionFailed, Unavailable, error_for

if TYPE_CHECKING:
    from .run import Run
from .models import (
    ApiKey,
    Automation,
    Event,
    Execution,
    Ingested,
    Integration,
    Job,
    Plugin,
    Queue,
    QueueItem,
)


@dataclass(frozen=True)
class Applied:
    """What :meth:`Herald.apply` did: ``created``, ``updated`` (``changed`` names the fields) or
    ``unchanged``."""

    automation: Automation
    outcome: str
    changed: List[str] = field(default_factory=list)

    def __str__(self) -> str:
        if self.outcome == "updated":
            return f"updated automation {self.automation.name} ({', '.join(self.changed)})"
        return f"{self.outcome} automation {self.automation.name}"


class Herald:
    """A client of one Herald server with one API key.

    ``url`` and ``api_key`` default to ``HERALD_URL`` (else ``http://127.0.0.1:8080``) and
    ``HERALD_KEY``.
    """

    def __init__(
        self,
        url: Optional[str] = None,
        api_key: Optional[str] = None,
        timeout: float = 10.0,
    ) -> None:
        self.url = (url or os.environ.get("HERALD_URL") or "http://127.0.0.1:8080").rstrip("/")
        key = api_key or os.environ.get("HERALD_KEY")
        if not key:
            raise ValueError("an API key is needed: api_key= or HERALD_KEY")
        self._http = httpx.Client(
            base_url=self.url,
            headers={"authorization": f"Bearer {key}"},
            timeout=timeout,
        )

    def close(self) -> None:
        """Closes the connection pool."""
        self._http.close()

    def __enter__(self) -> "Herald":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing --------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: Optional[Mapping[str, Any]] = None,
        headers: Optional[Mapping[str, str]] = None,
    ) -> Any:
        """Calls a route; returns its JSON (``None`` for an empty answer) or raises a typed
        :class:`~herald_client.errors.HeraldError`."""
        try:
            response = self._http.request(
                method,
                path,
                json=body,
                params={k: v for k, v in (params or {}).items() if v is not None},
                headers=headers,
            )
        except httpx.HTTPError as error:
            raise ConnectionFailed(f"cannot reach {self.url}: {error}") from error
        data = response.json() if response.content else None
        if response.is_success:
            return data
        detail = (data or {}).get("error", {}) if isinstance(data, dict) else {}
        raise error_for(
            response.status_code,
            detail.get("code", "error"),
            detail.get("message", response.text),
        )

    def _idempotent(self, path: str, body: Any, key: Optional[str]) -> Any:
        """POSTs ``body`` with an ``Idempotency-Key`` (a fresh one when none is given), sending it
        again with the same key while the server answers 503: its storage was unavailable and
        the write may or may not have landed; the key makes a repeat count once. Gives up after
        about 30 seconds, raising the last error."""
        headers = {"idempotency-key": key or f"py-{uuid.uuid4()}"}
        deadline = time.monotonic() + 30.0
        while True:
            try:
                return self.request("POST", path, body, headers=headers)
            except Unavailable:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(1.0)

    def _entity(self, entity: Optional[str]) -> str:
        return quote(entity or self.whoami()["entity"], safe="")

    # -- who and what ----------------------------------------------------------------------

    def whoami(self) -> Dict[str, Any]:
        """The key's entity and role."""
        return self.request("GET", "/v1/me")

    def plugins(self) -> List[Plugin]:
        """The installed action plugins."""
        return [Plugin.from_api(p) for p in self.request("GET", "/v1/plugins")["plugins"]]

    # -- events ----------------------------------------------------------------------------

    def send_event(self, event: Mapping[str, Any], idempotency_key: Optional[str] = None) -> Ingested:
        """Posts one event (sent again after a 503 under the same idempotency key)."""
        return Ingested.from_api(self._idempotent("/v1/events", dict(event), idempotency_key))

    def send_events(
        self, events: Iterable[Mapping[str, Any]], idempotency_key: Optional[str] = None
    ) -> List[Ingested]:
        """Posts a batch (up to 1,000 events), in order (sent again after a 503 under the same
        idempotency key)."""
        body = {"events": [dict(e) for e in events]}
        answer = self._idempotent("/v1/events/batch", body, idempotency_key)
        return [Ingested.from_api(e) for e in answer["events"]]

    def event(self, event_id: str) -> Event:
        """An event and the executions it triggered."""
        return Event.from_api(self.request("GET", f"/v1/events/{quote(event_id, safe='')}"))

    def why(self, event_id: str) -> List[Dict[str, Any]]:
        """Why an event fired what it fired: every automation listening for its type, fired ones
        first, each with ``verdict`` (``fired``, ``skipped``, ``disabled``, ``not_yet_listening``,
        ``scope``, ``filter``, ``condition``, ``cooldown``, ``changed``), ``reason`` (a sentence),
        ``name``, ``automation_id``, ``execution_id`` and ``changed_since``."""
        path = f"/v1/events/{quote(event_id, safe='')}/explanation"
        return list(self.request("GET", path)["considered"])

    def artifact_created(
        self,
        entity: str,
        project: str,
        collection: str,
        version: str,
        metadata: Optional[Mapping[str, Any]] = None,
        author: Optional[str] = None,
    ) -> Ingested:
        """Reports a new artifact version (``CREATE_ARTIFACT``)."""
        event: Dict[str, Any] = {"type": "CREATE_ARTIFACT", "entity": entity, "project": project,
                                 "collection": collection, "version": version}
        if metadata is not None:
            event["metadata"] = dict(metadata)
        return self._artifact_event(event, author)

    def artifact_linked(
        self,
        entity: str,
        registry: str,
        collection: str,
        version: str,
        source: Optional[str] = None,
        author: Optional[str] = None,
    ) -> Ingested:
        """Reports an artifact version linked into a registry (``LINK_ARTIFACT``)."""
        event: Dict[str, Any] = {"type": "LINK_ARTIFACT", "entity": entity, "registry": registry,
                                 "collection": collection, "version": version}
        if source is not None:
            event["source_artifact"] = source
        return self._artifact_event(event, author)

    def alias_added(
        self,
        entity: str,
        collection: str,
        version: str,
        alias: str,
        registry: Optional[str] = None,
        project: Optional[str] = None,
        author: Optional[str] = None,
    ) -> Ingested:
        """Reports an alias (e.g. ``production``) added to a version, in a registry or project."""
        if (registry is None) == (project is None):
            raise ValueError("give one of registry= or project=")
        event: Dict[str, Any] = {"type": "ADD_ARTIFACT_ALIAS", "entity": entity,
                                 "collection": collection, "version": version, "alias": alias}
        event["registry" if registry is not None else "project"] = registry or project
        return self._artifact_event(event, author)

    def _artifact_event(self, event: Dict[str, Any], author: Optional[str]) -> Ingested:
        if author is not None:
            event["author"] = author
        return self.send_event(event)

    # -- automations -----------------------------------------------------------------------

    def create_automation(self, definition: Any, name: Optional[str] = None, **fields: Any) -> Automation:
        """Creates an automation from a dict, or from a builder (``OnRunMetric(...) >> SendSlack(...)``)
        with ``name=`` (and ``description=``, ``enabled=``, ``rate_limit=``)."""
        body = definition.to_api() if hasattr(definition, "to_api") else dict(definition)
        if name is not None:
            body["name"] = name
        body.update(fields)
        return Automation.from_api(self.request("POST", "/v1/automations", body))

    def apply(self, definition: Any, name: str, **fields: Any) -> "Applied":
        """Creates the automation called ``name`` in the definition's entity, or brings the one
        there to the definition (a dict, or a builder spec, with ``description=``, ``enabled=``,
        ``rate_limit=``). Idempotent: running it again changes nothing, and the answer says
        which it was (``created``, ``updated`` with the fields changed, or ``unchanged``)."""
        body = definition.to_api() if hasattr(definition, "to_api") else dict(definition)
        body.update(fields)
        body["name"] = name
        entity = body.pop("entity", None)
        current = self.automation_named(name, entity=entity)
        if current is None:
            created = self.create_automation(dict(body, **({"entity": entity} if entity else {})))
            return Applied(created, "created", [])
        wanted = {key: value for key, value in body.items() if key != "name"}
        # A field left out means its default, as on create.
        defaults = {"description": "", "enabled": True, "rate_limit": None}
        for key, value in defaults.items():
            wanted.setdefault(key, value)
        if "action" in wanted:
            wanted["action"] = {"config": {}, **wanted["action"]}
        changed = {key: value for key, value in wanted.items() if current.raw.get(key) != value}
        if not changed:
            return Applied(current, "unchanged", [])
        return Applied(self.update_automation(current.id, **changed), "updated", sorted(changed))

    def automation_named(self, name: str, entity: Optional[str] = None) -> Optional[Automation]:
        """The automation called ``name`` in the entity (default: the key's), or ``None``."""
        for automation in self.automations(entity=entity):
            if automation.name == name:
                return automation
        return None

    def delete_automation_named(self, name: str, entity: Optional[str] = None) -> bool:
        """Deletes the automation called ``name``; returns whether there was one."""
        automation = self.automation_named(name, entity=entity)
        if automation is None:
            return False
        self.delete_automation(automation.id)
        return True

    def automations(
        self,
        entity: Optional[str] = None,
        project: Optional[str] = None,
        collection: Optional[str] = None,
    ) -> List[Automation]:
        """Automations, optionally only those scoped to a project or registry (``project``) and
        a collection in it."""
        params = {"entity": entity, "project": project, "collection": collection, "limit": 1000}
        return [Automation.from_api(a) for a in self._every("/v1/automations", "automations", params)]

    def automation(self, automation_id: str) -> Automation:
        """One automation."""
        return Automation.from_api(self.request("GET", f"/v1/automations/{quote(automation_id, safe='')}"))

    def update_automation(self, automation_id: str, **changes: Any) -> Automation:
        """Changes fields of an automation (any subset)."""
        path = f"/v1/automations/{quote(automation_id, safe='')}"
        return Automation.from_api(self.request("PATCH", path, changes))

    def enable_automation(self, automation_id: str) -> Automation:
        """Enables an automation."""
        return self.update_automation(automation_id, enabled=True)

    def disable_automation(self, automation_id: str) -> Automation:
        """Disables an automation."""
        return self.update_automation(automation_id, enabled=False)

    def delete_automation(self, automation_id: str) -> None:
        """Deletes an automation (its executions stay)."""
        self.request("DELETE", f"/v1/automations/{quote(automation_id, safe='')}")

    def executions(self, automation_id: str, limit: int = 100) -> List[Execution]:
        """An automation's executions, newest first."""
        path = f"/v1/automations/{quote(automation_id, safe='')}/executions"
        answer = self.request("GET", path, params={"limit": limit})
        return [Execution.from_api(e) for e in answer["executions"]]

    def all_executions(self, automation_id: str, page_size: int = 1000) -> Iterator[Execution]:
        """Every execution of an automation, newest first, read page by page (each page's
        ``next_cursor`` reads the next), however many there are."""
        path = f"/v1/automations/{quote(automation_id, safe='')}/executions"
        params = {"limit": page_size}
        yield from (Execution.from_api(e) for e in self._every(path, "executions", params))

    def audit_log(
        self,
        entity: Optional[str] = None,
        action: Optional[str] = None,
        target_kind: Optional[str] = None,
        target: Optional[str] = None,
        actor: Optional[str] = None,
        since: Optional[str] = None,
        until: Optional[str] = None,
    ) -> Iterator[Dict[str, Any]]:
        """The entity's audit log (admins), newest first, every page: each entry has ``at``,
        ``actor`` (``key_id``, ``role``), ``action`` (``automation.updated``), ``target_kind``,
        ``target``, and the changed thing's fields ``before`` and ``after``."""
        path = f"/v1/entities/{self._entity(entity)}/audit"
        params = {"action": action, "target_kind": target_kind, "target": target,
                  "actor": actor, "since": since, "until": until, "limit": 1000}
        yield from self._every(path, "entries", params)

    def _every(self, path: str, key: str, params: Dict[str, Any]) -> Iterator[Dict[str, Any]]:
        """The items under ``key`` of every page of a list, following ``next_cursor``."""
        cursor: Optional[str] = None
        while True:
            answer = self.request("GET", path, params={**params, "cursor": cursor})
            yield from answer[key]
            cursor = answer.get("next_cursor")
            if not answer.get("has_more") or not cursor:
                return

    def execution(self, execution_id: str) -> Execution:
        """One execution, with its attempts."""
        return Execution.from_api(self.request("GET", f"/v1/executions/{quote(execution_id, safe='')}"))

    def retry_execution(self, execution_id: str) -> Execution:
        """Runs a finished execution again."""
        path = f"/v1/executions/{quote(execution_id, safe='')}/retry"
        return Execution.from_api(self.request("POST", path))

    # -- integrations and secrets ----------------------------------------------------------

    def create_integration(self, entity: Optional[str] = None, **fields: Any) -> Integration:
        """Creates an integration (``name``, ``kind``, ``url`` or ``url_secret``, ``access_token``,
        ``signing_secret``, and ``secrets``: the names its automations' templates may use)."""
        path = f"/v1/entities/{self._entity(entity)}/integrations"
        return Integration.from_api(self.request("POST", path, fields))

    def integrations(self, entity: Optional[str] = None) -> List[Integration]:
        """The entity's integrations."""
        answer = self.request("GET", f"/v1/entities/{self._entity(entity)}/integrations")
        return [Integration.from_api(i) for i in answer["integrations"]]

    def integration(self, name: str, entity: Optional[str] = None) -> Integration:
        """One integration."""
        path = f"/v1/entities/{self._entity(entity)}/integrations/{quote(name, safe='')}"
        return Integration.from_api(self.request("GET", path))

    def update_integration(self, name: str, entity: Optional[str] = None, **changes: Any) -> Integration:
        """Changes fields of an integration."""
        path = f"/v1/entities/{self._entity(entity)}/integrations/{quote(name, safe='')}"
        return Integration.from_api(self.request("PATCH", path, changes))

    def delete_integration(self, name: str, entity: Optional[str] = None) -> None:
        """Deletes an integration no automation uses."""
        path = f"/v1/entities/{self._entity(entity)}/integrations/{quote(name, safe='')}"
        self.request("DELETE", path)

    def test_integration(
        self, name: str, payload: Any, entity: Optional[str] = None, **fields: Any
    ) -> Dict[str, Any]:
        """Sends a test payload through an integration; returns the receiver's answer."""
        path = f"/v1/entities/{self._entity(entity)}/integrations/{quote(name, safe='')}/test"
        return self.request("POST", path, {"payload": payload, **fields})

    def set_secret(self, name: str, value: str, entity: Optional[str] = None) -> None:
        """Creates or replaces a secret (admins)."""
        path = f"/v1/entities/{self._entity(entity)}/secrets/{quote(name, safe='')}"
        self.request("PUT", path, {"value": value})

    def rotate_secret(self, name: str, overlap_seconds: Optional[int] = None,
                      value: Optional[str] = None, entity: Optional[str] = None) -> Dict[str, Any]:
        """Rotates a secret (admins): a new value (``value``, or one Herald makes and answers this
        once as ``value``), while the old one keeps signing for ``overlap_seconds`` (the server's
        default is 24 h). Answers ``name``, ``value`` and ``previous_valid_until``."""
        path = f"/v1/entities/{self._entity(entity)}/secrets/{quote(name, safe='')}/rotate"
        body: Dict[str, Any] = {}
        if overlap_seconds is not None:
            body["overlap_seconds"] = overlap_seconds
        if value is not None:
            body["value"] = value
        return self.request("POST", path, body)

    def secret_names(self, entity: Optional[str] = None) -> List[str]:
        """The names of the entity's secrets (values are never returned)."""
        answer = self.request("GET", f"/v1/entities/{self._entity(entity)}/secrets")
        return [s["name"] for s in answer["secrets"]]

    def delete_secret(self, name: str, entity: Optional[str] = None) -> None:
        """Deletes a secret no integration uses."""
        path = f"/v1/entities/{self._entity(entity)}/secrets/{quote(name, safe='')}"
        self.request("DELETE", path)

    # -- launch ----------------------------------------------------------------------------

    def save_job(self, name: str, command: List[str], entity: Optional[str] = None, **fields: Any) -> Job:
        """Saves a new version of a launch job (``description``, ``env``, ``config``)."""
        path = f"/v1/entities/{self._entity(entity)}/jobs/{quote(name, safe='')}"
        return Job.from_api(self.request("PUT", path, {"command": command, **fields}))

    def jobs(self, entity: Optional[str] = None) -> List[Job]:
        """Every job's latest version."""
        answer = self.request("GET", f"/v1/entities/{self._entity(entity)}/jobs")
        return [Job.from_api(j) for j in answer["jobs"]]

    def job(self, job: str, entity: Optional[str] = None) -> Job:
        """A job: ``name`` (its latest version) or ``name@version``."""
        path = f"/v1/entities/{self._entity(entity)}/jobs/{quote(job, safe='@')}"
        return Job.from_api(self.request("GET", path))

    def job_versions(self, name: str, entity: Optional[str] = None) -> List[Job]:
        """Every version of a job, oldest first."""
        path = f"/v1/entities/{self._entity(entity)}/jobs/{quote(name, safe='')}/versions"
        return [Job.from_api(j) for j in self.request("GET", path)["jobs"]]

    def create_queue(self, name: str, entity: Optional[str] = None) -> Queue:
        """Creates a launch queue."""
        path = f"/v1/entities/{self._entity(entity)}/queues"
        return Queue.from_api(self.request("POST", path, {"name": name}))

    def queues(self, entity: Optional[str] = None) -> List[Queue]:
        """The entity's queues."""
        answer = self.request("GET", f"/v1/entities/{self._entity(entity)}/queues")
        return [Queue.from_api(q) for q in answer["queues"]]

    def queue_items(
        self,
        queue: str,
        status: Optional[str] = None,
        job: Optional[str] = None,
        limit: int = 100,
        entity: Optional[str] = None,
    ) -> List[QueueItem]:
        """A queue's items, newest first."""
        path = f"/v1/entities/{self._entity(entity)}/queues/{quote(queue, safe='')}/items"
        answer = self.request("GET", path, params={"status": status, "job": job, "limit": limit})
        return [QueueItem.from_api(i) for i in answer["items"]]

    def enqueue(
        self,
        queue: str,
        job: str,
        project: str,
        overrides: Optional[Mapping[str, Any]] = None,
        priority: int = 0,
        entity: Optional[str] = None,
    ) -> QueueItem:
        """Puts a run of a job on a queue."""
        path = f"/v1/entities/{self._entity(entity)}/queues/{quote(queue, safe='')}/items"
        body = {"job": job, "project": project, "priority": priority, "overrides": dict(overrides or {})}
        return QueueItem.from_api(self.request("POST", path, body))

    def queue_item(self, item_id: str, entity: Optional[str] = None) -> QueueItem:
        """One queue item."""
        path = f"/v1/entities/{self._entity(entity)}/items/{quote(item_id, safe='')}"
        return QueueItem.from_api(self.request("GET", path))

    def item_output(self, item_id: str, offset: int = 0,
                    entity: Optional[str] = None) -> Dict[str, Any]:
        """A queue item's output from byte ``offset`` on, as far as it is kept (its last 64 KiB):
        ``text``, ``start`` (later than ``offset`` when bytes there were cut), ``output_bytes``
        (the offset to read from next, to follow a running item) and ``status``."""
        path = f"/v1/entities/{self._entity(entity)}/items/{quote(item_id, safe='')}/output"
        return self.request("GET", path, params={"offset": int(offset)})

    def cancel_item(self, item_id: str, entity: Optional[str] = None) -> QueueItem:
        """Cancels a queue item."""
        path = f"/v1/entities/{self._entity(entity)}/items/{quote(item_id, safe='')}/cancel"
        return QueueItem.from_api(self.request("POST", path))

    # -- entities and keys -----------------------------------------------------------------

    def create_entity(self, name: str) -> Dict[str, Any]:
        """Creates an entity (operators); the answer holds its first admin key, shown once."""
        return self.request("POST", "/v1/entities", {"name": name})

    def keys(self, entity: Optional[str] = None) -> List[ApiKey]:
        """The entity's API keys (never the keys themselves)."""
        answer = self.request("GET", f"/v1/entities/{self._entity(entity)}/keys")
        return [ApiKey.from_api(k) for k in answer["keys"]]

    def create_key(self, role: str = "member", label: str = "", entity: Optional[str] = None,
                   queues: Optional[List[str]] = None) -> ApiKey:
        """Creates an API key; ``.key`` holds it, this once. An ``agent`` key is bound to
        ``queues`` (at least one) and can only claim and report on their items."""
        path = f"/v1/entities/{self._entity(entity)}/keys"
        body: Dict[str, Any] = {"role": role, "label": label}
        if queues:
            body["queues"] = list(queues)
        return ApiKey.from_api(self.request("POST", path, body))

    def delete_key(self, key_id: str, entity: Optional[str] = None) -> None:
        """Deletes an API key."""
        self.request("DELETE", f"/v1/entities/{self._entity(entity)}/keys/{quote(key_id, safe='')}")

    # -- reporting -------------------------------------------------------------------------

    def run(
        self,
        entity: str,
        project: str,
        run_id: Optional[str] = None,
        name: Optional[str] = None,
        *,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        max_queued: int = 100_000,
        max_batch_bytes: int = 512 * 1024,
        heartbeat_interval: float = 30.0,
        spool_dir: Optional[str] = None,
        max_spool_bytes: int = 512 << 20,
    ) -> "Run":
        """Starts reporting a run: posts ``RUN_STATE RUNNING`` and returns a :class:`Run` whose
        ``log`` queues metric samples sent in the background (see :class:`Run` for the options)."""
        from .run import Run

        return Run(self, entity, project, run_id=run_id, name=name, batch_size=batch_size,
                   flush_interval=flush_interval, max_queued=max_queued,
                   max_batch_bytes=max_batch_bytes, heartbeat_interval=heartbeat_interval,
                   spool_dir=spool_dir, max_spool_bytes=max_spool_bytes)
