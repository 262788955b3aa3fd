"""`tracseq-edge central user create NAME --role ROLE --password-file FILE [--email E]
[--phone P] [--db URL]`.

Makes a person's account (the first admin is made this way). The password is read from a
file (`-`: standard input), never from the command line where `ps` would show it; one
trailing newline is dropped. Exit 0 created, 2 bad arguments or the name exists, 1 the
database failed. The creation is audited as `cli:<OS user>`.
"""

from __future__ import annotations

import asyncio
import getpass
import sys
import time
from collections.abc import Sequence

from central.auth import ROLES
from central.notify.contacts import check_email, check_phone
from central.passwords import PasswordRejected, check_name, hash_password
from central.storage import DEFAULT_URL, SqlStorage, StorageError, open_storage
from runtime.cli_args import ArgumentParser

EXIT_OK, EXIT_RUNTIME, EXIT_USAGE = 0, 1, 2


def main(argv: Sequence[str]) -> int:
    """`argv` starts after `user`."""
    if list(argv[:1]) != ["create"]:
        print(
            "tracseq-edge central user: error: use `user create NAME --role ROLE "
            "--password-file FILE`",
            file=sys.stderr,
        )
        return EXIT_USAGE
    parser = ArgumentParser(prog="tracseq-edge central user create")
    parser.add_argument("name", metavar="NAME")
    parser.add_argument("--role", choices=ROLES, required=True)
    parser.add_argument("--password-file", required=True, help="file holding the password, or -")
    parser.add_argument("--email", default=None, help="e-mail address for notifications")
    parser.add_argument("--phone", default=None, help="phone number (SMS through a webhook)")
    parser.add_argument("--db", default=DEFAULT_URL)
    parser.add_argument("--log-format", choices=("text", "json"), default=None)
    args = parser.parse_args(list(argv[1:]))
    prog = "tracseq-edge central user create"
    try:
        check_name(args.name)
        email = None if args.email is None else check_email(args.email)
        phone = None if args.phone is None else check_phone(args.phone)
        password = _read_password(args.password_file)
        hashed = hash_password(password)
    except (PasswordRejected, OSError, ValueError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        storage = open_storage(args.db, time.time)
    except StorageError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        created = asyncio.run(_create(storage, args.name, args.role, hashed, email, phone))
    except StorageError as exc:
        print(f"{prog}: database error: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    if not created:
        print(f"{prog}: error: a user named {args.name!r} exists already", file=sys.stderr)
        return EXIT_USAGE
    print(f"user {args.name!r} created with role {args.role}")
    return EXIT_OK


def _read_password(path: str) -> str:
    if path == "-":
        text = sys.stdin.read()
    else:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as exc:
            raise OSError(f"--password-file: cannot read {path}: {exc.strerror}") from None
    return text[:-1] if text.endswith("\n") else text


async def _create(
    storage: SqlStorage, name: str, role: str, hashed: str, email: str | None, phone: str | None
) -> bool:
    try:
        return await storage.create_user(name, role, hashed, f"cli:{os_user()}", email, phone)
    finally:
        await storage.close()


def os_user() -> str:
    """Who runs the command, for the audit trail's `cli:<OS user>`."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (a bare container)
        return "unknown"
