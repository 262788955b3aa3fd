"""The dashboard at `/`: HTML pages, their scripts and styles, served by central itself.

Pages are small HTML shells (central/dashboard/templates/) filled in the browser from the
query API with `textContent`, so a sensor id, comment or user name is never parsed as
HTML. Every asset is under /static, including the chart library (uPlot) that `make`
fetches from the npm registry into static/vendor/: nothing is loaded from the internet.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from central.dashboard.pages import STATIC, page_routes
from central.services import Services


def routes(services: Services) -> list[BaseRoute]:
    """Mounted (not plain Routes): pages are not part of the OpenAPI description."""
    return [
        Mount("/static", app=StaticFiles(directory=STATIC, check_dir=False), name="static"),
        Mount("", routes=page_routes(services)),
    ]
