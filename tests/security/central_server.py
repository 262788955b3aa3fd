"""The real central app in a uvicorn subprocess, over plain HTTP or TLS, on a fresh SQLite file.

`tracseq-edge central` serves plain HTTP (TLS terminates at the load balancer in
compose.yaml); the TLS tests need central itself on https, so this module runs the same
`create_app(Settings)` under uvicorn with `ssl_certfile`/`ssl_keyfile`:

    python -m tests.security.central_server --db URL --port N [--cert C --key K]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.central.conftest import run_cli
from tests.servers import Server, free_port


@dataclass
class RunningCentral:
    server: Server
    db: str
    scheme: str

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server.port}"

    @property
    def output(self) -> str:
        """What the service wrote to stdout and stderr so far."""
        return self.server.log.read_text(errors="replace")

    def token(self, gateway: str) -> str:
        """A new gateway token (the secret is the last word `token create` prints)."""
        code, out, err = run_cli("token", "create", gateway, "--db", self.db)
        assert code == 0, err
        return out.split()[-1]

    def api_key(self, name: str, role: str = "admin") -> str:
        code, out, err = run_cli("apikey", "create", name, "--role", role, "--db", self.db)
        assert code == 0, err
        return out.split()[-1]


@contextlib.contextmanager
def central(workdir: Path, *, tls: tuple[Path, Path] | None = None) -> Iterator[RunningCentral]:
    """Central on a free loopback port; `tls` = (certificate, key) serves https."""
    workdir.mkdir(parents=True, exist_ok=True)
    db = f"sqlite:///{workdir / 'central.db'}"
    port = free_port()
    argv = [sys.executable, "-m", "tests.security.central_server", "--db", db, "--port", str(port)]
    if tls is not None:
        argv += ["--cert", str(tls[0]), "--key", str(tls[1])]
    server = Server(argv, port, Path.cwd(), workdir / "central.log")
    server.start()
    try:
        yield RunningCentral(server, db, "https" if tls else "http")
    finally:
        server.stop()


def main(argv: list[str]) -> int:
    import uvicorn

    from central.app import create_app
    from central.settings import Settings
    from runtime.logging_setup import setup_logging

    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args(argv)
    setup_logging("text", "DEBUG")  # DEBUG: a secret must not appear even there
    settings = Settings(db_url=args.db, port=args.port)
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=args.port,
        ssl_certfile=args.cert,
        ssl_keyfile=args.key,
        log_config=None,
        lifespan="on",
    )
    uvicorn.Server(config).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
