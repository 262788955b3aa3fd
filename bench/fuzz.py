"""Longer fuzzing runs of the properties in tests/security (hypothesis, bounded by time).

    python -m bench.fuzz --seconds 600                 # every target, time split evenly
    python -m bench.fuzz --seconds 120 --target config # targets whose name starts so

The test command runs each property with a few hundred examples; this runs the same
strategies and properties in rounds of fresh random examples until each target's share
of `--seconds` is spent, then prints one Markdown row per target (examples, seconds,
findings). A finding is printed with hypothesis' shrunk example and its traceback; the
exit code is 1 when there was any. Targets that need a server (the ingest endpoint)
start a private central on loopback for the run.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

MODULES = (
    "tests.security.test_fuzz_config",
    "tests.security.test_fuzz_payloads",
    "tests.security.test_fuzz_events",
    "tests.security.test_fuzz_ingest",
)
ROUND = 500  # examples per round; each round draws new random examples


@dataclass
class Result:
    name: str
    examples: int = 0
    seconds: float = 0.0
    findings: int = 0


def cases() -> dict[str, tuple[st.SearchStrategy[Any], Callable[[Any], object]]]:
    found: dict[str, tuple[st.SearchStrategy[Any], Callable[[Any], object]]] = {}
    for name in MODULES:
        found.update(importlib.import_module(name).CASES)
    return found


@contextlib.contextmanager
def servers_for(names: list[str]) -> Iterator[None]:
    """A private central for the HTTP targets (set on the ingest module), when selected."""
    if not any(n.startswith("ingest.http") for n in names):
        yield
        return
    from tests.security import test_fuzz_ingest
    from tests.security.central_server import central

    with tempfile.TemporaryDirectory() as workdir, central(Path(workdir)) as server:
        test_fuzz_ingest.attach_http(server)
        try:
            yield
        finally:
            test_fuzz_ingest.detach_http()


def run_one(name: str, strategy: st.SearchStrategy[Any], prop: Callable[[Any], object],
            budget: float) -> Result:  # fmt: skip
    result = Result(name)
    started = time.monotonic()
    count = [0]

    def counted(value: Any) -> None:
        count[0] += 1
        prop(value)

    test = settings(
        max_examples=ROUND,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )(given(strategy)(counted))
    while time.monotonic() - started < budget:
        try:
            test()
        except Exception:  # noqa: BLE001 -- every exception the target raises is a finding
            result.findings += 1
            print(f"\n--- finding in {name} ---", file=sys.stderr)
            traceback.print_exc()
    result.examples = count[0]
    result.seconds = time.monotonic() - started
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fuzz", description=__doc__)
    parser.add_argument("--seconds", type=float, default=300.0, help="total time budget")
    parser.add_argument("--target", default="", help="run only targets starting with this")
    args = parser.parse_args(argv)
    selected = {k: v for k, v in cases().items() if k.startswith(args.target)}
    if not selected:
        print(f"no target starts with {args.target!r}: {', '.join(cases())}", file=sys.stderr)
        return 2
    share = args.seconds / len(selected)
    results = []
    with servers_for(list(selected)):
        for name, (strategy, prop) in selected.items():
            results.append(run_one(name, strategy, prop, share))
    print(f"\nfuzzing, {args.seconds:.0f} s in all ({time.strftime('%Y-%m-%d')})\n")
    print("| target | examples | seconds | examples/s | findings |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for r in results:
        rate = r.examples / r.seconds if r.seconds else 0.0
        print(f"| {r.name} | {r.examples} | {r.seconds:.0f} | {rate:.0f} | {r.findings} |")
    return 1 if any(r.findings for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
