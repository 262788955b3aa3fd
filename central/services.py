"""`Services`: everything a request handler needs, built once by `create_app`.

Route modules import this, not central/app.py, so the app depends on the routes and never
the other way round.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from central.auth import Authenticator
from central.metrics import Metrics
from central.notify.service import Notify
from central.ratelimit import LoginLimiter
from central.settings import Settings
from central.storage import SqlStorage
from central.stream import Hub


@dataclass(slots=True)
class Services:
    settings: Settings
    storage: SqlStorage
    auth: Authenticator
    metrics: Metrics
    hub: Hub
    clock: Callable[[], float]
    ready: bool = False
    limiter: LoginLimiter = field(default_factory=LoginLimiter)
    notify: Notify | None = None  # notifications (central/notify/), built by create_app
