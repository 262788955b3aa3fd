"""Plausible physics of lab cold-chain equipment, stepped in simulated seconds.

Each appliance is a small state machine integrated with explicit Euler steps. Noise comes
from the appliance's own seeded `random.Random`, drawn once per `measure()`, so a fleet
advanced by the same steps with the same seed gives the same readings whatever reads them.

Cabinets (ULT, -20 freezer, fridge) cool with a compressor switched by a thermostat with
hysteresis (a sawtooth around the setpoint) and leak heat towards the room (Newton). The
leak is sized so that a dead compressor lets the cabinet climb about 1 degC/min from its
setpoint; an open door leaks several times faster and the compressor recovers afterwards.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

AMBIENT_C = 22.0
ATMOSPHERIC_CO2 = 0.04  # percent


def _ou(
    value: float, mean: float, tau: float, sigma: float, dt: float, rng: random.Random
) -> float:
    """One Ornstein-Uhlenbeck step: wanders around `mean`, stationary std-dev `sigma`."""
    decay = math.exp(-dt / tau)
    return mean + (value - mean) * decay + rng.gauss(0.0, sigma * math.sqrt(1 - decay * decay))


@dataclass(frozen=True, slots=True)
class CabinetSpec:
    """What distinguishes a ULT from a -20 freezer or a fridge."""

    setpoint: float
    band: float  # thermostat hysteresis: compressor on above setpoint+band, off below -band
    cool_per_min: float  # compressor cooling, degC/min
    fail_per_min: float  # warming at the setpoint with the compressor dead, degC/min
    door_per_min: float  # extra warming at the setpoint while the door is open, degC/min
    noise: float  # sensor noise std-dev, degC


ULT = CabinetSpec(setpoint=-80.0, band=1.5, cool_per_min=3.0, fail_per_min=1.0,
                  door_per_min=10.0, noise=0.1)  # fmt: skip
FREEZER = CabinetSpec(setpoint=-20.0, band=1.0, cool_per_min=2.5, fail_per_min=1.0,
                      door_per_min=6.0, noise=0.1)  # fmt: skip
FRIDGE = CabinetSpec(setpoint=4.0, band=1.0, cool_per_min=2.0, fail_per_min=1.0,
                     door_per_min=4.0, noise=0.1)  # fmt: skip


@dataclass(slots=True)
class Cabinet:
    """A compressor-cooled cabinet: ULT freezer, -20 freezer or fridge."""

    name: str
    kind: str  # "ult" | "freezer" | "fridge"
    spec: CabinetSpec
    rng: random.Random
    temp: float = 0.0
    compressor_on: bool = False
    door_open: bool = False
    compressor_failed: bool = False
    humidity: float = 40.0  # the Zigbee sensor reports it too
    readings: dict[str, float] = field(default_factory=dict)

    EVENTS = frozenset({"door-open", "compressor-failure", "dropout", "garbage"})

    def __post_init__(self) -> None:
        # Start somewhere on the sawtooth so a fleet does not cycle in lockstep.
        self.temp = self.spec.setpoint + self.rng.uniform(-self.spec.band, self.spec.band)
        self.compressor_on = self.rng.random() < 0.5
        self.measure()

    @property
    def _leak(self) -> float:
        return self.spec.fail_per_min / 60.0 / (AMBIENT_C - self.spec.setpoint)

    def set_condition(self, kind: str, active: bool) -> None:
        if kind == "door-open":
            self.door_open = active
        elif kind == "compressor-failure":
            self.compressor_failed = active

    def trigger(self, kind: str) -> None:
        del kind  # cabinets have no one-shot events

    def step(self, dt: float) -> None:
        spec = self.spec
        leak = self._leak
        if self.door_open:
            leak += spec.door_per_min / 60.0 / (AMBIENT_C - spec.setpoint)
        rate = leak * (AMBIENT_C - self.temp)
        running = self.compressor_on and not self.compressor_failed
        if running:
            rate -= spec.cool_per_min / 60.0
        self.temp += rate * dt
        if self.temp >= spec.setpoint + spec.band:
            self.compressor_on = True
        elif self.temp <= spec.setpoint - spec.band:
            self.compressor_on = False
        target_rh = 75.0 if self.door_open else 40.0
        self.humidity = _ou(self.humidity, target_rh, 300.0, 2.0, dt, self.rng)

    def measure(self) -> None:
        self.readings = {
            "temperature": self.temp + self.rng.gauss(0.0, self.spec.noise),
            "humidity": min(100.0, max(0.0, self.humidity)),
            "door": 1.0 if self.door_open else 0.0,
        }


@dataclass(slots=True)
class Incubator:
    """A CO2 incubator: 37 degC and 5 % CO2 held by controllers; a door lets both escape."""

    name: str
    rng: random.Random
    kind: str = "incubator"
    setpoint: float = 37.0
    co2_setpoint: float = 5.0
    temp: float = 37.0
    co2: float = 5.0
    co2_bias: float = 0.0  # slow sensor/controller wander ("CO2 drift")
    door_open: bool = False
    gas_failing: bool = False
    readings: dict[str, float] = field(default_factory=dict)

    EVENTS = frozenset({"door-open", "co2-drift", "dropout", "garbage"})

    def __post_init__(self) -> None:
        self.measure()

    def set_condition(self, kind: str, active: bool) -> None:
        if kind == "door-open":
            self.door_open = active
        elif kind == "co2-drift":
            self.gas_failing = active

    def trigger(self, kind: str) -> None:
        del kind

    def step(self, dt: float) -> None:
        # Temperature: a regulator pulls back to the setpoint (tau 4 min); the door
        # loses heat to the room.
        rate = (self.setpoint - self.temp) / 240.0
        if self.door_open:
            rate += (AMBIENT_C - self.temp) / 600.0
        self.temp += rate * dt
        # CO2: injection restores the setpoint (tau 5 min) unless the gas supply is
        # running out; the door vents towards air. The bias wanders slowly.
        self.co2_bias = _ou(self.co2_bias, 0.0, 3600.0, 0.05, dt, self.rng)
        if self.gas_failing:
            co2_rate = -0.05 / 60.0  # the bottle empties: falls 0.05 %/min
        else:
            co2_rate = (self.co2_setpoint + self.co2_bias - self.co2) / 300.0
        if self.door_open:
            co2_rate += (ATMOSPHERIC_CO2 - self.co2) / 120.0
        self.co2 = max(ATMOSPHERIC_CO2, self.co2 + co2_rate * dt)

    def measure(self) -> None:
        self.readings = {
            "temperature": self.temp + self.rng.gauss(0.0, 0.03),
            "co2": self.co2 + self.rng.gauss(0.0, 0.02),
            "door": 1.0 if self.door_open else 0.0,
        }


@dataclass(slots=True)
class Dewar:
    """An LN2 dewar: the level falls by boil-off; an auto-fill valve refills it."""

    name: str
    rng: random.Random
    kind: str = "ln2"
    level: float = 70.0  # percent
    boil_off_per_h: float = 2.0
    fill_low: float = 40.0  # auto-fill opens below this level ...
    fill_high: float = 80.0  # ... and closes above this one
    fill_per_min: float = 5.0
    filling: bool = False
    fill_blocked: bool = False  # "refill-failure": supply tank empty, valve stuck
    vacuum_loss: bool = False  # "boil-off": a failing jacket boils off ten times faster
    readings: dict[str, float] = field(default_factory=dict)

    EVENTS = frozenset({"refill", "refill-failure", "boil-off", "dropout", "garbage"})

    def __post_init__(self) -> None:
        self.measure()

    def set_condition(self, kind: str, active: bool) -> None:
        if kind == "refill-failure":
            self.fill_blocked = active
            if active:
                self.filling = False
        elif kind == "boil-off":
            self.vacuum_loss = active

    def trigger(self, kind: str) -> None:
        if kind == "refill" and not self.fill_blocked:
            self.filling = True

    def step(self, dt: float) -> None:
        boil = self.boil_off_per_h * (10.0 if self.vacuum_loss else 1.0) / 3600.0
        rate = -boil
        if not self.fill_blocked and self.level < self.fill_low:
            self.filling = True
        if self.filling:
            rate += self.fill_per_min / 60.0
        self.level = min(100.0, max(0.0, self.level + rate * dt))
        if self.filling and self.level >= self.fill_high:
            self.filling = False

    def measure(self) -> None:
        noisy = self.level + self.rng.gauss(0.0, 0.1)
        self.readings = {"level": min(100.0, max(0.0, noisy))}


@dataclass(slots=True)
class Room:
    """A cold room with an RS-485 transmitter: temperature and humidity wander."""

    name: str
    rng: random.Random
    kind: str = "room"
    setpoint: float = 4.0
    temp: float = 4.0
    humidity: float = 60.0
    door_open: bool = False
    readings: dict[str, float] = field(default_factory=dict)

    EVENTS = frozenset({"door-open", "dropout", "garbage"})

    def __post_init__(self) -> None:
        self.measure()

    def set_condition(self, kind: str, active: bool) -> None:
        if kind == "door-open":
            self.door_open = active

    def trigger(self, kind: str) -> None:
        del kind

    def step(self, dt: float) -> None:
        if self.door_open:
            self.temp += (AMBIENT_C - self.temp) / 900.0 * dt
        else:
            self.temp = _ou(self.temp, self.setpoint, 600.0, 0.3, dt, self.rng)
        self.humidity = _ou(self.humidity, 60.0, 1800.0, 3.0, dt, self.rng)

    def measure(self) -> None:
        self.readings = {
            "temperature": self.temp + self.rng.gauss(0.0, 0.05),
            "humidity": min(100.0, max(0.0, self.humidity + self.rng.gauss(0.0, 0.2))),
        }


Appliance = Cabinet | Incubator | Dewar | Room
