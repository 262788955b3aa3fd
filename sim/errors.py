"""The simulator's one error: an output it cannot provide (exit 1 from the command)."""

from __future__ import annotations

from runtime.errors import TracseqError


class SimulatorError(TracseqError):
    """A port in use, a pty path not writable: the simulator cannot start an output."""
