"""Users, sessions and the audit trail, as plain functions on one connection.

Every change a person or a tool makes (acknowledgement, sign-in, user, API key, token) is
written in the same transaction as its audit row, so there is never a change without its
record or a record without its change. Audit rows are numbered under a lock (SQLite's
single writer; a PostgreSQL advisory lock) so the hash chain has one order.
"""

from __future__ import annotations

from typing import Any

import orjson

from central.audit import GENESIS, AuditEntry, row_hash
from central.notify import outbox
from central.storage.dialect import Dialect
from central.storage.records import Revocation

_AUDIT_LOCK = 0x7472_6163_6175_64  # 'tracaud'
_AUDIT_COLUMNS = "id, at, actor, action, target, old_value, new_value, prev_hash, hash"


def json_text(value: Any) -> str | None:
    """The text an audit value is stored as (None stays None)."""
    if value is None:
        return None
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def append_audit(
    conn: Any,
    d: Dialect,
    now: float,
    actor: str,
    action: str,
    target: str | None,
    old: Any = None,
    new: Any = None,
) -> int:
    """Append one audit row (inside the caller's transaction, or its own)."""
    with d.transaction(conn):
        if d.name == "postgresql":
            d.execute(conn, "SELECT pg_advisory_xact_lock(?)", (_AUDIT_LOCK,))
        last = d.one(conn, "SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1")
        id_, prev = (int(last[0]) + 1, str(last[1])) if last is not None else (1, GENESIS)
        old_text, new_text = json_text(old), json_text(new)
        digest = row_hash(prev, id_, now, actor, action, target, old_text, new_text)
        d.execute(
            conn,
            f"INSERT INTO audit ({_AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (id_, now, actor, action, target, old_text, new_text, prev, digest),
        )
    return id_


def audit_rows(conn: Any, d: Dialect) -> list[AuditEntry]:
    rows = d.all(conn, f"SELECT {_AUDIT_COLUMNS} FROM audit ORDER BY id")
    return [
        AuditEntry(int(i), float(at), str(ac), str(an), t, o, n, str(p), str(h))
        for i, at, ac, an, t, o, n, p, h in rows
    ]


# --- acknowledgements and secrets, audited ---------------------------------------------


def ack(
    conn: Any, d: Dialect, alarm_id: str, by: str, comment: str, actor: str, now: float
) -> int | None:
    with d.transaction(conn):
        ack_id = _ack(conn, d, alarm_id, by, comment, actor, now)
        if ack_id is not None:
            new = {"ack_id": ack_id, "by": by, "comment": comment}
            append_audit(conn, d, now, actor, "alarm.ack", alarm_id, None, new)
    return ack_id


def ack_all(
    conn: Any,
    d: Dialect,
    alarm_ids: list[str],
    by: str,
    comment: str,
    actor: str,
    now: float,
    subject: str | None = None,
) -> list[tuple[int, str, str | None]] | None:
    """Acknowledge several alarms with one comment, all or none, each with its audit row.

    Returns (ack id, alarm id, subject) per alarm, or None when one of them does not exist
    (or, with `subject`, belongs to another sensor).
    """
    if not alarm_ids:
        return None
    with d.transaction(conn):
        among, params = d.one_of("alarm_id", alarm_ids)
        found = dict(d.all(conn, f"SELECT alarm_id, subject FROM alarms WHERE {among}", params))
        if set(alarm_ids) - set(found):
            return None
        if subject is not None and any(s != subject for s in found.values()):
            return None
        out = []
        for alarm_id in dict.fromkeys(alarm_ids):
            ack_id = ack(conn, d, alarm_id, by, comment, actor, now)
            if ack_id is not None:  # always: existence was checked in this transaction
                out.append((ack_id, alarm_id, found[alarm_id]))
    return out


def add_token(conn: Any, d: Dialect, token_hash: str, source: str, now: float, actor: str) -> None:
    with d.transaction(conn):
        _add_token(conn, d, token_hash, source, now)
        new = {"source": source, "digest_prefix": token_hash[:12]}
        append_audit(conn, d, now, actor, "token.create", source, None, new)


def add_api_key(
    conn: Any, d: Dialect, key_hash: str, name: str, role: str, now: float, actor: str
) -> bool:
    with d.transaction(conn):
        if not _add_api_key(conn, d, key_hash, name, role, now):
            return False
        append_audit(conn, d, now, actor, "apikey.create", name, None, {"role": role})
    return True


TOKEN_ID_LENGTH = 12  # hex digits of a token's digest that name it (as in its audit row)


def tokens(conn: Any, d: Dialect) -> list[dict[str, Any]]:
    """Every gateway token, revoked ones too: id (digest prefix), source, created, revoked."""
    rows = d.all(conn, "SELECT token_hash, source, created, revoked FROM tokens ORDER BY created")
    return [
        {"id": str(h)[:TOKEN_ID_LENGTH], "source": s, "created": c, "revoked": r}
        for h, s, c, r in rows
    ]


def api_keys(conn: Any, d: Dialect) -> list[dict[str, Any]]:
    """Every API key, revoked ones too: name, role, created, revoked (never the digest)."""
    rows = d.all(conn, "SELECT name, role, created, revoked FROM api_keys ORDER BY name")
    return [{"name": n, "role": r, "created": c, "revoked": v} for n, r, c, v in rows]


def revoke_token(conn: Any, d: Dialect, token_id: str, now: float, actor: str) -> Revocation:
    """Revoke the one token whose digest starts with `token_id` (lower-case hex), audited."""
    with d.transaction(conn):
        rows = d.all(
            conn,
            "SELECT token_hash, source, revoked FROM tokens WHERE token_hash LIKE ?",
            (token_id + "%",),
        )
        if len(rows) != 1:
            return Revocation(len(rows))
        token_hash, source, revoked = rows[0]
        if revoked is not None:
            return Revocation(1, str(source), float(revoked), already=True)
        d.execute(conn, "UPDATE tokens SET revoked = ? WHERE token_hash = ?", (now, token_hash))
        old = {"source": source, "digest_prefix": str(token_hash)[:TOKEN_ID_LENGTH]}
        append_audit(conn, d, now, actor, "token.revoke", str(source), old, {"revoked": True})
    return Revocation(1, str(source), now)


def revoke_api_key(conn: Any, d: Dialect, name: str, now: float, actor: str) -> Revocation:
    """Revoke the API key called `name`, audited. Its name stays taken."""
    with d.transaction(conn):
        row = d.one(conn, "SELECT role, revoked FROM api_keys WHERE name = ?", (name,))
        if row is None:
            return Revocation(0)
        role, revoked = row
        if revoked is not None:
            return Revocation(1, name, float(revoked), already=True)
        d.execute(conn, "UPDATE api_keys SET revoked = ? WHERE name = ?", (now, name))
        append_audit(conn, d, now, actor, "apikey.revoke", name, {"role": role}, {"revoked": True})
    return Revocation(1, name, now)


# --- users ----------------------------------------------------------------------------


def users(conn: Any, d: Dialect) -> list[dict[str, Any]]:
    rows = d.all(
        conn,
        "SELECT name, role, email, phone, created, updated, disabled FROM users ORDER BY name",
    )
    names = ("name", "role", "email", "phone", "created", "updated", "disabled")
    return [dict(zip(names, row, strict=True)) for row in rows]


def credentials(conn: Any, d: Dialect, name: str) -> tuple[str, str] | None:
    """(role, password hash) of an enabled user."""
    row = d.one(
        conn,
        "SELECT role, password_hash FROM users WHERE name = ? AND disabled IS NULL",
        (name,),
    )
    return None if row is None else (str(row[0]), str(row[1]))


def create_user(
    conn: Any,
    d: Dialect,
    name: str,
    role: str,
    password_hash: str,
    now: float,
    actor: str,
    email: str | None = None,
    phone: str | None = None,
) -> bool:
    """False when a user of that name exists already."""
    with d.transaction(conn):
        if d.one(conn, "SELECT 1 FROM users WHERE name = ?", (name,)) is not None:
            return False
        d.execute(
            conn,
            """INSERT INTO users (name, role, password_hash, created, email, phone)
            VALUES (?, ?, ?, ?, ?, ?)""",
            (name, role, password_hash, now, email, phone),
        )
        new: dict[str, Any] = {"role": role}
        new.update({k: v for k, v in (("email", email), ("phone", phone)) if v is not None})
        append_audit(conn, d, now, actor, "user.create", name, None, new)
    return True


def update_user(
    conn: Any,
    d: Dialect,
    name: str,
    now: float,
    actor: str,
    *,
    role: str | None = None,
    password_hash: str | None = None,
    disabled: bool | None = None,
    contact: dict[str, str | None] | None = None,
) -> dict[str, Any] | None:
    """Change role / password / disabled / contact (`email`, `phone`; None clears one);
    None for an unknown user. Each change is audited; changing the password or disabling
    ends the user's sessions."""
    with d.transaction(conn):
        row = d.one(conn, "SELECT role, disabled, email, phone FROM users WHERE name = ?", (name,))
        if row is None:
            return None
        old_role, was_disabled = str(row[0]), row[1] is not None
        old_contact = {"email": row[2], "phone": row[3]}
        for key, value in (contact or {}).items():
            if key in old_contact and value != old_contact[key]:
                d.execute(
                    conn,
                    f"UPDATE users SET {key} = ?, updated = ? WHERE name = ?",
                    (value, now, name),
                )
                append_audit(
                    conn, d, now, actor, f"user.{key}", name, {key: old_contact[key]}, {key: value}
                )
                old_contact[key] = value
        if role is not None and role != old_role:
            d.execute(
                conn, "UPDATE users SET role = ?, updated = ? WHERE name = ?", (role, now, name)
            )
            append_audit(conn, d, now, actor, "user.role", name, {"role": old_role}, {"role": role})
        if password_hash is not None:
            d.execute(
                conn,
                "UPDATE users SET password_hash = ?, updated = ? WHERE name = ?",
                (password_hash, now, name),
            )
            _end_sessions(conn, d, name, now)
            append_audit(conn, d, now, actor, "user.password", name)
        if disabled is not None and disabled != was_disabled:
            d.execute(
                conn,
                "UPDATE users SET disabled = ?, updated = ? WHERE name = ?",
                (now if disabled else None, now, name),
            )
            if disabled:
                _end_sessions(conn, d, name, now)
            append_audit(
                conn,
                d,
                now,
                actor,
                "user.disable" if disabled else "user.enable",
                name,
                {"disabled": was_disabled},
                {"disabled": disabled},
            )
    still = was_disabled if disabled is None else disabled  # unchanged unless sent
    return {"name": name, "role": role or old_role, "disabled": still, **old_contact}


# --- sessions -------------------------------------------------------------------------


def create_session(
    conn: Any,
    d: Dialect,
    token_hash: str,
    username: str,
    csrf_token: str,
    now: float,
    expires: float,
    remote: str,
) -> None:
    with d.transaction(conn):
        d.execute(
            conn,
            """INSERT INTO sessions (token_hash, username, csrf_token, created, expires)
            VALUES (?, ?, ?, ?, ?)""",
            (token_hash, username, csrf_token, now, expires),
        )
        append_audit(
            conn, d, now, f"user:{username}", "session.login", username, None, {"remote": remote}
        )


def session(conn: Any, d: Dialect, token_hash: str, now: float) -> tuple[str, str, str] | None:
    """(user name, role, CSRF token) of a live session of an enabled user."""
    row = d.one(
        conn,
        """SELECT s.username, u.role, s.csrf_token FROM sessions s
        JOIN users u ON u.name = s.username
        WHERE s.token_hash = ? AND s.revoked IS NULL AND s.expires > ? AND u.disabled IS NULL""",
        (token_hash, now),
    )
    return None if row is None else (str(row[0]), str(row[1]), str(row[2]))


def end_session(conn: Any, d: Dialect, token_hash: str, username: str, now: float) -> None:
    with d.transaction(conn):
        d.execute(
            conn,
            "UPDATE sessions SET revoked = ? WHERE token_hash = ? AND revoked IS NULL",
            (now, token_hash),
        )
        append_audit(conn, d, now, f"user:{username}", "session.logout", username)


def failed_login(conn: Any, d: Dialect, username: str, remote: str, now: float) -> None:
    append_audit(
        conn, d, now, f"remote:{remote}", "session.login_failed", username[:200], None, None
    )


def _end_sessions(conn: Any, d: Dialect, name: str, now: float) -> None:
    d.execute(
        conn,
        "UPDATE sessions SET revoked = ? WHERE username = ? AND revoked IS NULL",
        (now, name),
    )


def _ack(
    conn: Any, d: Dialect, alarm_id: str, by: str, comment: str, actor: str, now: float
) -> int | None:
    """Append an acknowledgement; None when the alarm does not exist."""
    with d.transaction(conn):
        if d.one(conn, "SELECT 1 FROM alarms WHERE alarm_id = ?", (alarm_id,)) is None:
            return None
        row = d.one(
            conn,
            """INSERT INTO alarm_acks (alarm_id, ack_by, comment, at, actor)
            VALUES (?, ?, ?, ?, ?) RETURNING id""",
            (alarm_id, by, comment, now, actor),
        )
        outbox.enqueue(conn, d, alarm_id, "acknowledged", now)
    return int(row[0])


def _add_token(conn: Any, d: Dialect, token_hash: str, source: str, now: float) -> None:
    with d.transaction(conn):
        d.execute(
            conn,
            "INSERT INTO tokens (token_hash, source, created) VALUES (?, ?, ?)",
            (token_hash, source, now),
        )


def _add_api_key(conn: Any, d: Dialect, key_hash: str, name: str, role: str, now: float) -> bool:
    """False when an API key of that name exists already."""
    with d.transaction(conn):
        if d.one(conn, "SELECT 1 FROM api_keys WHERE name = ?", (name,)) is not None:
            return False
        d.execute(
            conn,
            "INSERT INTO api_keys (key_hash, name, role, created) VALUES (?, ?, ?, ?)",
            (key_hash, name, role, now),
        )
    return True
