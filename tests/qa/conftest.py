"""QA fixtures: the central and dashboard fixtures (tests/central, tests/dashboard)."""

from __future__ import annotations

from tests.central.conftest import central  # noqa: F401 - a fixture used by the tests here
from tests.dashboard.conftest import site  # noqa: F401 - a fixture used by the tests here
from tests.notify.conftest import mail  # noqa: F401 - a fixture used by the tests here
