"""What a Modbus answer means: the values a read asked for, a coil write confirmed, or why not.

pymodbus returns whatever frame of the right unit (and, over TCP, transaction) came back;
it does not check that the frame answers the request's function and size. `values_of`
does, so a stray frame of another function or length is a failed poll (`mismatch`), not
registers stored under the wrong sensors; `coil_written` does the same for a coil write,
so a stray frame is never taken for the device's confirmation.
"""

from __future__ import annotations

from typing import Any, Literal

from drivers.registers import Block

Result = Literal["ok", "timeout", "crc_error", "mismatch", "exception", "connection_error"]
FUNCTIONS = {"coil": 1, "discrete": 2, "holding": 3, "input": 4}  # read function codes
WRITE_COIL = 5
# Exception codes that say the request is wrong (config), not that the device is unwell.
REQUEST_ERRORS = {1: "illegal function", 2: "illegal data address", 3: "illegal data value"}
DEVICE_ERRORS = {
    4: "device failure",
    5: "acknowledge (busy)",
    6: "device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target did not respond",
}


class Failure(Exception):
    """A poll that yielded no values: `result` is its label in tracseq_modbus_requests_total."""

    def __init__(self, result: Result, detail: str, code: int = 0) -> None:
        super().__init__(detail)
        self.result = result
        self.code = code  # the Modbus exception code, for result "exception"


def values_of(block: Block, response: Any) -> list[int]:
    """The block's registers (or bits) from a response that must answer exactly its request.

    Raises `Failure`: `exception` for an exception response, `mismatch` for an answer of
    another function or size than the block asked for."""
    _answers(response, FUNCTIONS[block.table])
    if block.bits:
        size = len(response.bits)  # whole bytes of bits on the wire
        if size != (block.count + 7) // 8 * 8:
            raise Failure("mismatch", f"answer of {size} bits, asked {block.count}")
        return [1 if b else 0 for b in response.bits[: block.count]]
    if len(response.registers) != block.count:
        got = len(response.registers)
        raise Failure("mismatch", f"answer of {got} registers, asked {block.count}")
    return list(response.registers)


def coil_written(response: Any, address: int, on: bool) -> None:
    """Returns when `response` confirms coil `address` set to `on` (the device echoes both).

    Raises `Failure` as `values_of` does."""
    _answers(response, WRITE_COIL)
    echoed, value = response.address, bool(response.bits[0])
    if echoed != address or value != on:
        raise Failure("mismatch", f"answer for coil {echoed} = {value:d}, asked {address} = {on:d}")


def _answers(response: Any, function: int) -> None:
    """Raises `Failure` unless `response` is a normal answer of `function`."""
    answered = response.function_code & 0x7F  # exception responses set the high bit
    if answered != function:
        raise Failure("mismatch", f"answer of function {answered}, asked {function}")
    if response.isError():
        code = int(getattr(response, "exception_code", 0))
        name = REQUEST_ERRORS.get(code) or DEVICE_ERRORS.get(code) or "unknown"
        raise Failure("exception", f"exception {code} ({name})", code)
