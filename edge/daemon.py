"""The edge daemon (`tracseq-edge run -c FILE`).

Start-up: open the durable log, start every component under a supervisor (drivers feed the
pipeline; the rule engine, gateway events, Redis publisher and uploader follow the log; the
HTTP server answers /healthz /readyz /metrics and the event intake), then tell systemd
READY=1. SIGTERM/SIGINT: stop intake, record gateway.stopped, give the publishers a moment
to flush, close the log (every queued entry committed) and exit 0. SIGHUP: reload the
config; an invalid one is logged with its file:line errors and the old one keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass

from drivers.base import Driver
from drivers.registry import build_coil_writer, build_drivers
from edge.daemon_http import LogCollector, build_app
from edge.errors import StartupError
from edge.log import DurableLog
from edge.pipeline import Pipeline
from edge.supervisor import Component, FunctionComponent, Supervisor
from edgeconfig import Config, load_config
from runtime import tracing
from runtime.clock import Clock, SystemClock
from runtime.errors import ConfigError
from runtime.health import Health
from runtime.heap import freeze_startup_heap
from runtime.http_server import HttpServer
from runtime.systemd import notify, watchdog_interval, watchdog_loop

log = logging.getLogger("tracseq.edge.daemon")

FLUSH_GRACE_S = 2.0  # at shutdown, how long publishers may catch up before we stop them


@dataclass
class DriverComponent:
    """Runs a driver into the pipeline under the supervisor."""

    driver: Driver
    sink: Pipeline

    @property
    def name(self) -> str:
        return f"driver:{self.driver.name}"

    async def run(self) -> None:
        await self.driver.run(self.sink)

    def health(self) -> Health:
        return self.driver.health()


class Daemon:
    """One running gateway: a config, its log and its components."""

    def __init__(self, config: Config, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.log: DurableLog | None = None
        self._intake: Supervisor | None = None
        self._outputs: Supervisor | None = None
        self._stop = asyncio.Event()
        self._reload = asyncio.Event()
        self._gateway_events: object | None = None
        self._collector = LogCollector(lambda: self.log)
        self._started_at = self.clock.monotonic()  # heartbeat uptime spans reloads

    # --- lifecycle ---------------------------------------------------------------------

    async def serve(self) -> int:
        """Run until SIGTERM/SIGINT; returns the exit code."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        loop.add_signal_handler(signal.SIGHUP, self._reload.set)
        from prometheus_client import REGISTRY

        REGISTRY.register(self._collector)
        try:
            self.log = self._open_log(self.config)
            while True:
                await self._run_once()
                if self._stop.is_set():
                    break
                self._reload.clear()
        finally:
            REGISTRY.unregister(self._collector)
            if self.log is not None:
                await self.log.close()
                log.info("durable log closed at seq %d", self.log.last_seq)
        return 0

    async def _run_once(self) -> None:
        """Run the components of the current config until stop or a valid reload."""
        assert self.log is not None
        intake, outputs, http = self._build(self.config, self.log)
        self._intake, self._outputs = intake, outputs
        try:
            http.bind().close()  # fail now, not in a restart loop, if the port is taken
        except OSError as exc:
            raise StartupError(
                f"cannot listen on {http.host}:{http.port} (gateway.listen): {exc.strerror}"
            ) from None
        output_task = asyncio.create_task(outputs.run(), name="outputs")
        intake_task = asyncio.create_task(intake.run(), name="intake")
        await self._start_gateway_events()
        freeze_startup_heap()
        notify("READY=1\nSTATUS=running")
        log.info(
            "gateway %s running: %d sensor(s), http://%s:%d",
            self.config.gateway.id,
            len(self.config.sensors),
            self.config.gateway.listen.host,
            self.config.gateway.listen.port,
        )
        while True:
            stop_wait = asyncio.create_task(self._stop.wait())
            reload_wait = asyncio.create_task(self._reload.wait())
            done, _ = await asyncio.wait(
                {stop_wait, reload_wait, output_task, intake_task},
                return_when=asyncio.FIRST_COMPLETED,
            )
            for task in (stop_wait, reload_wait):
                if task not in done:
                    task.cancel()
            if self._stop.is_set():
                notify("STOPPING=1")
                log.info("stopping: intake first, then flush")
                break
            if self._reload.is_set():
                new = await self._load_new_config()
                if new is not None:
                    log.info("reloading with the new config")
                    notify("RELOADING=1")
                    self.config = new
                    break
                self._reload.clear()
                continue
            # A supervisor ended on its own: only if a component finished (a bug); stop.
            log.error("a supervisor stopped unexpectedly; shutting down")
            self._stop.set()
            break
        await _cancel(intake_task)
        await self._stop_gateway_events()
        await self._drain_publishers()
        await _cancel(output_task)
        if self.log is not None and self._needs_new_log(self.config, self.log):
            await self.log.close()
            self.log = self._open_log(self.config)

    def _build(
        self, config: Config, the_log: DurableLog
    ) -> tuple[Supervisor, Supervisor, HttpServer]:
        pipeline = Pipeline(the_log)
        intake = Supervisor(self.clock)
        drivers = build_drivers(config, self.clock)
        for driver in drivers:
            intake.add(DriverComponent(driver, pipeline))
        outputs = Supervisor(self.clock)
        for component in self._output_components(config, the_log, drivers):
            outputs.add(component)
        routes = []
        from edge.intake import intake_routes

        routes.extend(intake_routes(config, the_log))
        app = build_app(self.health, lambda: the_log, routes)
        listen = config.gateway.listen
        http = HttpServer("http", app, listen.host, listen.port)
        outputs.add(http)
        interval = watchdog_interval()
        if interval is not None:
            # systemd hears from us only while our own listener answers /healthz.
            outputs.add(
                FunctionComponent(
                    "watchdog", lambda: watchdog_loop(self.clock, interval, http.answers)
                )
            )
        return intake, outputs, http

    def _output_components(
        self, config: Config, the_log: DurableLog, drivers: list[Driver]
    ) -> list[Component]:
        from edge.gateway_events import GatewayEvents
        from edge.rules import RuleEngine

        components: list[Component] = [RuleEngine(config, the_log, self.clock)]
        events = GatewayEvents(config, the_log, self.clock, started_at=self._started_at)
        self._gateway_events = events
        components.append(events)
        if config.redis is not None:
            from edge.redis_publisher import RedisPublisher

            components.append(RedisPublisher(config, the_log, self.clock))
        if config.outputs:
            from edge.outputs import AlarmOutput

            for name, output in config.outputs.items():
                # On an RTU bus the sensors poll, the output writes through their driver.
                writer = build_coil_writer(config, output.connection, drivers)
                components.append(AlarmOutput(name, output, config, the_log, writer, self.clock))
        if config.notify is not None:
            from edge.fallback_notify import FallbackNotifier

            components.append(FallbackNotifier(config, the_log, self.clock))
        if config.sync is not None:
            from sync.uploader import Uploader

            components.append(Uploader(config, the_log, self.clock))
        return components

    async def _start_gateway_events(self) -> None:
        start = getattr(self._gateway_events, "start", None)
        if start is not None:
            await start()

    async def _stop_gateway_events(self) -> None:
        stop = getattr(self._gateway_events, "stop", None)
        if stop is not None:
            try:
                await asyncio.wait_for(stop(), timeout=1.0)
            except Exception as exc:  # noqa: BLE001 -- shutdown goes on whatever the log says
                log.warning("could not record gateway.stopped: %s", exc)

    async def _drain_publishers(self) -> None:
        """Let Redis/sync catch up to the last commit for a moment (bounded)."""
        if self.log is None or not self.log.cursor_names:
            return
        deadline = self.clock.monotonic() + FLUSH_GRACE_S
        while self.clock.monotonic() < deadline:
            if all(self.log.pending(c) == 0 for c in self.log.cursor_names):
                return
            await asyncio.sleep(0.05)

    async def _load_new_config(self) -> Config | None:
        path = self.config.source_file
        try:
            return await asyncio.get_running_loop().run_in_executor(None, load_config, path)
        except ConfigError as exc:
            for issue in exc.issues:
                log.error("reload rejected: %s", issue)
            log.error("reload rejected: keeping the running config (%d error(s))", len(exc.issues))
            return None

    # --- the log -----------------------------------------------------------------------

    @staticmethod
    def _cursors(config: Config) -> tuple[str, ...]:
        return tuple(
            name for name, on in (("redis", config.redis), ("sync", config.sync)) if on is not None
        )

    def _open_log(self, config: Config) -> DurableLog:
        buffer = config.gateway.buffer
        try:
            config.gateway.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StartupError(
                f"cannot create gateway.data_dir {config.gateway.data_dir}: {exc.strerror}"
            ) from None
        return DurableLog.open(
            config.gateway.data_dir / "log.db",
            cursors=self._cursors(config),
            max_bytes=buffer.max_bytes,
            keep_delivered=buffer.keep_delivered,
            commit_window=buffer.commit_window,
            wall=self.clock.time,
        )

    def _needs_new_log(self, config: Config, the_log: DurableLog) -> bool:
        return (
            the_log.path != config.gateway.data_dir / "log.db"
            or the_log.cursor_names != self._cursors(config)
            or the_log.max_bytes != config.gateway.buffer.max_bytes
            or the_log.keep_delivered != config.gateway.buffer.keep_delivered
            or the_log.commit_window != config.gateway.buffer.commit_window
        )

    def health(self) -> dict[str, Health]:
        out: dict[str, Health] = {}
        for supervisor in (self._intake, self._outputs):
            if supervisor is not None:
                out.update(supervisor.health())
        return out


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def run_daemon(config_path: str) -> int:
    """Load the config (ConfigError -> exit 2 in the CLI) and run until stopped."""
    config = load_config(config_path)
    tracing.configure("tracseq-edge")
    try:
        return asyncio.run(Daemon(config).serve())
    finally:
        tracing.shutdown()
