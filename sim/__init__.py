"""The simulated lab fleet behind `tracseq-edge simulate` and the demo.

fleet.py      which appliances exist; scripted events; one simulated clock
physics.py    cabinets, incubators, dewars, rooms: setpoints, compressors, doors, noise
scenario.py   `KIND:TARGET@AT[:FOR]` flags and YAML scenario files
payloads.py   the contract's MQTT shapes and the LN2 serial line
mqtt_out.py   QoS 1 publisher (records what the broker acknowledged)
modbus_out.py Modbus TCP and RTU-on-a-pty devices (pymodbus servers)
serial_out.py the LN2 monitor's ASCII lines on a pty
ptylink.py    ptys at stable symlinks, and a pty-to-pty bridge
record.py     the JSONL record of what was sent
runner.py     SimOptions, Simulator, run_simulator(): the tick loop
cli.py        the command line
"""

from __future__ import annotations

from sim.errors import SimulatorError
from sim.fleet import Fleet
from sim.runner import SimOptions, Simulator, run_simulator
from sim.scenario import Event, load_scenario, parse_event

__all__ = [
    "Event",
    "Fleet",
    "SimOptions",
    "Simulator",
    "SimulatorError",
    "load_scenario",
    "parse_event",
    "run_simulator",
]
