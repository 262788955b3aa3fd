"""The simulated lab: which appliances exist, their scripted events, one clock for all.

`Fleet.advance(dt)` moves simulated time on in fixed sub-steps, switching event conditions
(door open, compressor dead, dropout ...) exactly at their scripted times, then draws one
measurement per appliance. Outputs (MQTT, Modbus, serial) only read `readings`, so the
values depend on the seed and the steps, never on who reads them or when.

The default fleet is the one in the root sensors.yaml: ULT freezers F01..Fnn (vendor JSON),
freezer-20a (Zigbee2MQTT), incubator-3 (Tasmota + Modbus TCP CO2), cold-room-1 (Modbus RTU)
and ln2-dewar-1 (ASCII serial); optional fridges fridge-01.. (Zigbee2MQTT).
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from sim.physics import FREEZER, FRIDGE, ULT, Appliance, Cabinet, Dewar, Incubator, Room
from sim.scenario import Event

MAX_STEP = 2.0  # simulated seconds per Euler step: stable for every model here
ONE_SHOTS = frozenset({"garbage", "refill"})


class Fleet:
    """Every simulated appliance, advanced together in simulated time."""

    def __init__(
        self,
        *,
        seed: int = 1,
        ult_count: int = 12,
        fridge_count: int = 0,
        events: Iterable[Event] = (),
    ) -> None:
        if not 0 <= ult_count <= 999 or not 0 <= fridge_count <= 99:
            raise ValueError("ult_count must be 0..999 and fridge_count 0..99")
        self.seed = seed
        self.now = 0.0  # simulated seconds since the start
        width = max(2, len(str(ult_count)))
        self.ults = [f"F{i:0{width}d}" for i in range(1, ult_count + 1)]
        self.fridges = [f"fridge-{i:02d}" for i in range(1, fridge_count + 1)]
        self.devices: dict[str, Appliance] = {}
        for name in self.ults:
            self.devices[name] = Cabinet(name, "ult", ULT, self._rng(name))
        self.devices["freezer-20a"] = Cabinet("freezer-20a", "freezer", FREEZER, self._rng("f20"))
        for name in self.fridges:
            self.devices[name] = Cabinet(name, "fridge", FRIDGE, self._rng(name))
        self.devices["incubator-3"] = Incubator("incubator-3", self._rng("incubator-3"))
        self.devices["cold-room-1"] = Room("cold-room-1", self._rng("cold-room-1"))
        self.devices["ln2-dewar-1"] = Dewar("ln2-dewar-1", self._rng("ln2-dewar-1"))
        self.events = sorted(events, key=lambda e: e.at)
        self._check(self.events)
        self._fired: set[int] = set()  # one-shot events already triggered
        self._garbage: set[str] = set()  # devices owing one garbage output
        self._silent: set[str] = set()  # devices in a dropout
        self._apply_conditions()

    def _rng(self, name: str) -> random.Random:
        return random.Random(f"{self.seed}:{name}")

    def _check(self, events: list[Event]) -> None:
        for event in events:
            device = self.devices.get(event.target)
            if device is None:
                raise ValueError(
                    f"{event.kind}:{event.target}: unknown device {event.target!r} "
                    f"(known: {self.describe_names()})"
                )
            if event.kind not in device.EVENTS:
                raise ValueError(
                    f"{event.kind}:{event.target}: a {device.kind} device does not support "
                    f"{event.kind} (supports: {', '.join(sorted(device.EVENTS))})"
                )

    def describe_names(self) -> str:
        """The device names, with a long ULT list shortened to a range."""
        names = [n for n in self.devices if n not in self.ults]
        if self.ults:
            ults = self.ults[0] if len(self.ults) == 1 else f"{self.ults[0]}..{self.ults[-1]}"
            names.insert(0, ults)
        return ", ".join(names)

    def advance(self, dt: float) -> None:
        """Move simulated time on by `dt` seconds, then take one measurement per device."""
        if dt < 0:
            raise ValueError("time only moves forward")
        end = self.now + dt
        while self.now < end:
            # Never step across a scripted change: split the step at the next boundary.
            step = min(MAX_STEP, end - self.now, self._next_boundary() - self.now)
            step = max(step, 1e-9)
            for device in self.devices.values():
                device.step(step)
            self.now += step
            if end - self.now < 1e-9:
                self.now = end
            self._apply_conditions()
        for device in self.devices.values():
            device.measure()

    def _next_boundary(self) -> float:
        upcoming = float("inf")
        for event in self.events:
            for t in (event.at, event.end):
                if self.now < t < upcoming:
                    upcoming = t
        return upcoming

    def _apply_conditions(self) -> None:
        active: dict[str, set[str]] = {name: set() for name in self.devices}
        for index, event in enumerate(self.events):
            if event.kind in ONE_SHOTS:
                if event.at <= self.now and index not in self._fired:
                    self._fired.add(index)
                    if event.kind == "garbage":
                        self._garbage.add(event.target)
                    else:
                        self.devices[event.target].trigger(event.kind)
            elif event.active(self.now):
                active[event.target].add(event.kind)
        self._silent = {name for name, kinds in active.items() if "dropout" in kinds}
        for name, device in self.devices.items():
            for kind in device.EVENTS - ONE_SHOTS - {"dropout"}:
                device.set_condition(kind, kind in active[name])

    def silent(self, name: str) -> bool:
        """True while the device is in a scripted dropout (it sends and answers nothing)."""
        return name in self._silent

    def take_garbage(self, name: str) -> bool:
        """True once per scripted garbage event: the next output of `name` is junk."""
        if name in self._garbage:
            self._garbage.discard(name)
            return True
        return False

    def readings(self, name: str) -> dict[str, float]:
        return self.devices[name].readings
