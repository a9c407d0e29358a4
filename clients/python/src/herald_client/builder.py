"""Automations as code: ``trigger >> action``, checked as it is built (a builder error is raised
before any request is sent), turned into the API's JSON by ``to_api``.

    OnRunMetric(project("acme", "train"), metric("loss").mean(5) > 0.5) >> SendSlack("alerts")
    OnAddArtifactAlias(registry("acme", "models"), alias=r"^prod") >> SendWebhook("ci")
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional


class BuilderError(ValueError):
    """An automation that the server would refuse, caught before any request."""


# -- scopes ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """Where an automation listens: an entity, a project or registry, or a collection in one."""

    entity: str
    kind: str  # entity | project | registry | collection
    space: Optional[str] = None
    in_registry: bool = False
    collection_name: Optional[str] = None

    def collection(self, name: str) -> "Scope":
        """A collection of this project or registry."""
        if self.kind not in ("project", "registry"):
            raise BuilderError("a collection belongs to a project or a registry")
        return Scope(self.entity, "collection", self.space, self.kind == "registry", _name("collection", name))

    def to_api(self) -> Dict[str, Any]:
        if self.kind == "entity":
            return {"type": "entity"}
        if self.kind == "collection":
            where = "registry" if self.in_registry else "project"
            return {"type": "collection", where: self.space, "collection": self.collection_name}
        return {"type": self.kind, self.kind: self.space}

    @property
    def _place(self) -> str:
        if self.kind == "collection":
            return "registry collection" if self.in_registry else "project collection"
        return self.kind


def _name(what: str, value: str) -> str:
    if not value or len(value) > 128 or "/" in value or ":" in value:
        raise BuilderError(f"{what} {value!r}: 1 to 128 characters, no `/` or `:`")
    return value


def entity(name: str) -> Scope:
    """Every project and registry of an entity."""
    return Scope(_name("entity", name), "entity")


def project(entity_name: str, name: str) -> Scope:
    """One project."""
    return Scope(_name("entity", entity_name), "project", _name("project", name))


def registry(entity_name: str, name: str) -> Scope:
    """One model registry."""
    return Scope(_name("entity", entity_name), "registry", _name("registry", name))


# -- metric conditions -------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    """A metric condition, as saved in ``event.metric`` (with, for a range, an event filter)."""

    kind: str
    body: Dict[str, Any]
    filter: Optional[Dict[str, Any]] = None

    def __bool__(self) -> bool:
        # `0.1 < metric("loss") < 0.5` is Python's `(0.1 < m) and (m < 0.5)`: it asks whether
        # the first condition is true, then keeps only the second. Refuse instead of dropping a
        # bound without a word.
        raise BuilderError(
            "a metric condition is not a truth value: a chained comparison such as "
            "`0.1 < metric('loss') < 0.5` would keep only one bound; write "
            "metric('loss').between(0.1, 0.5)"
        )


class _Aggregate:
    def __init__(self, name: str, agg: str, window: int) -> None:
        if not 1 <= window <= 1000:
            raise BuilderError(f"window {window}: 1 to 1000")
        self.name, self.agg, self.window = name, agg, window

    def _cmp(self, cmp: str, value: float) -> Condition:
        body: Dict[str, Any] = {"name": self.name, "cmp": cmp, "value": float(value)}
        if self.agg != "none":
            body.update({"agg": self.agg, "window": self.window})
        return Condition("RUN_METRIC_THRESHOLD", body)

    def __gt__(self, value: float) -> Condition:  # type: ignore[override]
        return self._cmp("$gt", value)

    def __ge__(self, value: float) -> Condition:  # type: ignore[override]
        return self._cmp("$gte", value)

    def __lt__(self, value: float) -> Condition:  # type: ignore[override]
        return self._cmp("$lt", value)

    def __le__(self, value: float) -> Condition:  # type: ignore[override]
        return self._cmp("$lte", value)

    def __eq__(self, value: object) -> Condition:  # type: ignore[override]
        return self._cmp("$eq", float(value))  # type: ignore[arg-type]

    def __ne__(self, value: object) -> Condition:  # type: ignore[override]
        return self._cmp("$ne", float(value))  # type: ignore[arg-type]

    __hash__ = None  # type: ignore[assignment]

    # W&B's spellings of the same comparisons.
    def gt(self, value: float) -> Condition:
        """``> value``."""
        return self._cmp("$gt", value)

    def gte(self, value: float) -> Condition:
        """``>= value``."""
        return self._cmp("$gte", value)

    def lt(self, value: float) -> Condition:
        """``< value``."""
        return self._cmp("$lt", value)

    def lte(self, value: float) -> Condition:
        """``<= value``."""
        return self._cmp("$lte", value)

    def between(self, low: float, high: float) -> Condition:
        """``low < value < high`` (both bounds exclusive). Only on a metric's newest value: the
        lower bound is the condition, the upper one a filter on the sample."""
        if self.agg != "none":
            raise BuilderError(
                "between() applies to a metric's newest value, not to an aggregate: use "
                "`metric(name).mean(n) > low` and a second automation for the upper bound"
            )
        if not float(low) < float(high):
            raise BuilderError(f"between({low}, {high}): the low bound must be below the high one")
        condition = self._cmp("$gt", low)
        return Condition(condition.kind, condition.body, {f"metrics.{self.name}": {"$lt": float(high)}})


class _Change:
    def __init__(self, name: str, current: int, prior: int, agg: str) -> None:
        for what, n in (("current", current), ("prior", prior)):
            if not 1 <= n <= 1000:
                raise BuilderError(f"{what} window {n}: 1 to 1000")
        if agg not in ("MAX", "MIN", "AVERAGE"):
            raise BuilderError(f"agg {agg!r}: MAX, MIN or AVERAGE")
        self.body = {"name": name, "current_window": current, "prior_window": prior, "agg": agg}

    def _by(self, direction: str, amount: float, relative: bool) -> Condition:
        if not amount > 0:
            raise BuilderError("the amount of a change must be greater than 0")
        body = dict(self.body, direction=direction, amount=float(amount),
                    change="RELATIVE" if relative else "ABSOLUTE")
        return Condition("RUN_METRIC_CHANGE", body)

    def increases_by(self, amount: float, relative: bool = False) -> Condition:
        """Holds when the current window is up by ``amount`` (a fraction when ``relative``)."""
        return self._by("INCREASE", amount, relative)

    def decreases_by(self, amount: float, relative: bool = False) -> Condition:
        """Holds when the current window is down by ``amount``."""
        return self._by("DECREASE", amount, relative)

    def changes_by(self, amount: float, relative: bool = False) -> Condition:
        """Holds when the current window moved by ``amount`` either way."""
        return self._by("ANY", amount, relative)


class _ZScore:
    def __init__(self, name: str, window: int) -> None:
        if not 1 <= window <= 1000:
            raise BuilderError(f"window {window}: 1 to 1000")
        self.name, self.window = name, window

    def _z(self, direction: str, threshold: float) -> Condition:
        if not threshold > 0:
            raise BuilderError("a z-score threshold must be greater than 0")
        body = {"name": self.name, "window": self.window, "threshold": float(threshold), "direction": direction}
        return Condition("RUN_METRIC_ZSCORE", body)

    def above(self, threshold: float = 3.0) -> Condition:
        """The newest value is ``threshold`` deviations above the window's mean."""
        return self._z("INCREASE", threshold)

    def below(self, threshold: float = 3.0) -> Condition:
        """The newest value is ``threshold`` deviations below."""
        return self._z("DECREASE", threshold)

    def outside(self, threshold: float = 3.0) -> Condition:
        """Either way."""
        return self._z("ANY", threshold)


class metric(_Aggregate):  # noqa: N801 (reads as a function: metric("loss") > 0.5)
    """A run metric by name: compare it (``metric("loss") > 0.5``), or an aggregate of its newest
    values (``.mean(5)``, ``.max(5)``, ``.min(5)``), its change, or its z-score."""

    def __init__(self, name: str) -> None:
        if not name or len(name) > 255:
            raise BuilderError("a metric name is 1 to 255 characters")
        super().__init__(name, "none", 1)

    def mean(self, window: int = 5) -> _Aggregate:
        return _Aggregate(self.name, "AVERAGE", window)

    def avg(self, window: int = 5) -> _Aggregate:
        """W&B's spelling of :meth:`mean`."""
        return self.mean(window)

    def max(self, window: int = 5) -> _Aggregate:
        return _Aggregate(self.name, "MAX", window)

    def min(self, window: int = 5) -> _Aggregate:
        return _Aggregate(self.name, "MIN", window)

    def change(self, current: int = 1, prior: int = 1, agg: str = "AVERAGE") -> _Change:
        return _Change(self.name, current, prior, agg)

    def zscore(self, window: int = 30) -> _ZScore:
        return _ZScore(self.name, window)


# -- triggers ----------------------------------------------------------------------------------


def _regex(field: str, pattern: Optional[str]) -> Optional[Dict[str, Any]]:
    if pattern is None:
        return None
    try:
        re.compile(pattern)
    except re.error as error:
        raise BuilderError(f"{field}: not a regular expression: {error}") from None
    return {field: {"$regex": pattern}}


class Trigger:
    """An event kind in a scope, with an optional filter; ``trigger >> action`` makes an
    automation."""

    def __init__(self, kind: str, scope: Scope, filters: List[Optional[Dict[str, Any]]],
                 metric_condition: Optional[Dict[str, Any]] = None) -> None:
        if not isinstance(scope, Scope):
            raise BuilderError("the first argument is a scope: entity(), project(), registry() or .collection()")
        # Which scopes take which kinds is the server's to say (``GET /v1/triggers``): a kind
        # its scope does not take is refused when the automation is saved, naming the field.
        parts = [f for f in filters if f]
        self.kind, self.scope, self.metric = kind, scope, metric_condition
        self.filter: Optional[Dict[str, Any]] = None
        if len(parts) == 1:
            self.filter = parts[0]
        elif parts:
            self.filter = {"$and": parts}

    def to_api(self) -> Dict[str, Any]:
        event: Dict[str, Any] = {"type": self.kind}
        if self.filter is not None:
            event["filter"] = self.filter
        if self.metric is not None:
            event["metric"] = self.metric
        return event

    def __rshift__(self, action: "Action") -> "AutomationSpec":
        if not isinstance(action, Action):
            raise BuilderError("the right of >> is an action: SendWebhook(), SendSlack(), …")
        return AutomationSpec(self, action)


def OnCreateArtifact(scope: Scope, filter: Optional[Dict[str, Any]] = None) -> Trigger:  # noqa: N802, A002
    """A new artifact version in a project (or one of its collections)."""
    return Trigger("CREATE_ARTIFACT", scope, [filter])


def OnLinkArtifact(scope: Scope, filter: Optional[Dict[str, Any]] = None) -> Trigger:  # noqa: N802, A002
    """An artifact version linked into a registry (or one of its collections)."""
    return Trigger("LINK_ARTIFACT", scope, [filter])


def OnAddArtifactAlias(scope: Scope, alias: Optional[str] = None, filter: Optional[Dict[str, Any]] = None) -> Trigger:  # noqa: N802, A002
    """An alias added to an artifact version; ``alias`` is a regular expression."""
    return Trigger("ADD_ARTIFACT_ALIAS", scope, [_regex("alias", alias), filter])


def OnRunState(scope: Scope, state: Optional[str] = None, run_name: Optional[str] = None,
               filter: Optional[Dict[str, Any]] = None) -> Trigger:  # noqa: N802, A002
    """A run changed state (``RUNNING``, ``FINISHED``, ``FAILED``)."""
    if state is not None and state not in ("RUNNING", "FINISHED", "FAILED"):
        raise BuilderError(f"state {state!r}: RUNNING, FINISHED or FAILED")
    return Trigger("RUN_STATE", scope, [{"state": state} if state else None, _regex("run_name", run_name), filter])


def OnRunMetric(scope: Scope, condition: Condition, run_name: Optional[str] = None,
                cooldown_seconds: Optional[int] = None, filter: Optional[Dict[str, Any]] = None) -> Trigger:  # noqa: N802, A002
    """A run metric's condition held (threshold, change or z-score)."""
    if not isinstance(condition, Condition):
        raise BuilderError("a metric condition, e.g. metric('loss').mean(5) > 0.5")
    body = dict(condition.body)
    if cooldown_seconds is not None:
        if cooldown_seconds < 0:
            raise BuilderError("cooldown_seconds must not be negative")
        body["cooldown_seconds"] = int(cooldown_seconds)
    return Trigger(condition.kind, scope, [condition.filter, _regex("run_name", run_name), filter], body)


# -- actions -----------------------------------------------------------------------------------


class Action:
    """What an automation runs: a plugin, its integration, its config and payload template."""

    def __init__(self, plugin: str, integration: Optional[str] = None, config: Optional[Dict[str, Any]] = None,
                 payload: Optional[Dict[str, Any]] = None) -> None:
        if payload is not None and not isinstance(payload, dict):
            raise BuilderError("a payload template is a JSON object")
        self.plugin, self.integration = plugin, integration
        self.config = {k: v for k, v in (config or {}).items() if v is not None}
        self.payload = payload

    def to_api(self) -> Dict[str, Any]:
        action: Dict[str, Any] = {"type": self.plugin, "config": self.config}
        if self.integration is not None:
            action["integration"] = self.integration
        if self.payload is not None:
            action["payload"] = self.payload
        return action


def SendWebhook(integration: str, payload: Optional[Dict[str, Any]] = None) -> Action:  # noqa: N802
    """POST a JSON payload (the template, or the default document) to a webhook integration."""
    return Action("webhook", integration, None, payload)


def SendSlack(integration: str, title: Optional[str] = None, message: Optional[str] = None,
              severity: Optional[str] = None, mode: Optional[str] = None, channel: Optional[str] = None,
              payload: Optional[Dict[str, Any]] = None) -> Action:  # noqa: N802
    """A Slack message (incoming webhook, or ``mode="bot"`` with a ``channel``)."""
    if mode == "bot" and not channel:
        raise BuilderError("a bot-mode Slack message needs a channel")
    config = {"title": title, "message": message, "severity": severity, "mode": mode, "channel": channel}
    return Action("slack", integration, config, payload)


def SendTeams(integration: str, title: Optional[str] = None, message: Optional[str] = None,
              severity: Optional[str] = None, format: Optional[str] = None,  # noqa: A002
              payload: Optional[Dict[str, Any]] = None) -> Action:  # noqa: N802
    """A Microsoft Teams card (``format`` ``messagecard`` or ``adaptive``)."""
    config = {"title": title, "message": message, "severity": severity, "format": format}
    return Action("teams", integration, config, payload)


def GitHubDispatch(integration: str, owner: str, repo: str, event_type: str,
                   payload: Optional[Dict[str, Any]] = None) -> Action:  # noqa: N802
    """A GitHub ``repository_dispatch`` event."""
    return Action("github-dispatch", integration, {"owner": owner, "repo": repo, "event_type": event_type}, payload)


def LaunchJob(queue: str, job: str, overrides: Optional[Dict[str, Any]] = None, priority: int = 0) -> Action:  # noqa: N802
    """Enqueue a run of a launch job, with overrides rendered from the event."""
    return Action("launch-job", None, {"queue": queue, "job": job, "priority": priority, "overrides": overrides or {}})


def NoOp(payload: Optional[Dict[str, Any]] = None) -> Action:  # noqa: N802
    """Record the rendered payload and send nothing."""
    return Action("no-op", None, None, payload)


@dataclass(frozen=True)
class AutomationSpec:
    """A trigger and an action; ``Herald.create_automation(spec, name=...)`` saves it."""

    trigger: Trigger
    action: Action

    def to_api(self) -> Dict[str, Any]:
        return {
            "entity": self.trigger.scope.entity,
            "scope": self.trigger.scope.to_api(),
            "event": self.trigger.to_api(),
            "action": self.action.to_api(),
        }
