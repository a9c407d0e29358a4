"""Herald's Python client: report runs and artifacts, and manage automations."""

from .client import Herald
from .errors import (
    Conflict,
    ConnectionFailed,
    Forbidden,
    HeraldError,
    InvalidRequest,
    NotFound,
    PluginRefused,
    TooLarge,
    Unauthorized,
    Unavailable,
)
from .models import Automation, Event, Execution, Ingested, Integration, Plugin, QueueItem
from .run import Run, metric_value

__all__ = [
    "Automation",
    "Conflict",
    "ConnectionFailed",
    "Event",
    "Execution",
    "Forbidden",
    "Herald",
    "HeraldError",
    "Ingested",
    "Integration",
    "InvalidRequest",
    "NotFound",
    "Plugin",
    "PluginRefused",
    "QueueItem",
    "Run",
    "TooLarge",
    "Unauthorized",
    "Unavailable",
    "metric_value",
]
