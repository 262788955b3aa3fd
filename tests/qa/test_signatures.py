"""Electronic signatures through the API: who may sign, both components, the limiter, the
audit trail, tampering found by verification, approvals, and `--require-signatures`."""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import sqlite3
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from runtime import events as ev
from tests.central.conftest import fresh_db, run_cli, start_central
from tests.dashboard.conftest import GATEWAY, PASSWORD, Site, make_people
from tests.qa import recording as rec

SIGN = {"meaning": "acknowledged", "reason": "door closed, product checked"}


def person(site: Site, role: str = "operator") -> str:
    """A new person (made by the admin through the API), so limits and sessions are theirs."""
    name = f"p{secrets.token_hex(3)}"
    client, csrf = site.login("ada")
    r = client.post(
        "/api/v1/users",
        json={"name": name, "role": role, "password": PASSWORD},
        headers={"x-csrf-token": csrf},
    )
    assert r.status_code == 201, r.text
    return name


@contextlib.contextmanager
def session(site: Site, name: str) -> Iterator[tuple[httpx.Client, dict[str, str]]]:
    with httpx.Client(base_url=site.url, timeout=30) as client:
        r = client.post("/api/v1/session", json={"username": name, "password": PASSWORD})
        assert r.status_code == 200, r.text
        yield client, {"x-csrf-token": r.json()["csrf_token"]}


@contextlib.contextmanager
def live_stream(site: Site) -> Iterator[Iterator[str]]:
    """The live stream's lines, connected (read in this thread, with a read timeout)."""
    headers = {"authorization": f"Bearer {site.central.key()}"}
    with (
        httpx.Client(timeout=15) as client,
        client.stream("GET", f"{site.url}/api/v1/stream", headers=headers) as response,
    ):
        lines = response.iter_lines()
        for line in lines:
            if line.startswith(": connected"):
                break
        yield lines


def next_event(lines: Iterator[str], kind: str, mark: str) -> dict[str, Any]:
    """The next `kind` event whose data mentions `mark` (a read timeout ends the wait)."""
    frame: dict[str, str] = {}
    for line in lines:
        if line == "" and frame:
            if frame.get("event") == kind and mark in frame.get("data", ""):
                return dict(orjson.loads(frame["data"]))
            frame = {}
        elif ":" in line and not line.startswith(":"):
            name, _, value = line.partition(":")
            frame[name] = value.strip()
    raise AssertionError(f"the stream ended without a {kind} event about {mark}")


def signed_ack(
    client: httpx.Client, headers: dict[str, str], alarm_id: str, **signature: Any
) -> httpx.Response:
    return client.post(
        f"/api/v1/alarms/{alarm_id}/signed-ack", json={"signature": signature}, headers=headers
    )


def test_api_keys_cannot_sign(site: Site) -> None:
    alarm_id = site.raise_alarm("fridge-2.temp", 9.5, 8.0)
    r = httpx.post(
        f"{site.url}/api/v1/alarms/{alarm_id}/signed-ack",
        json={"signature": {"password": PASSWORD, **SIGN}},
        headers={"authorization": f"Bearer {site.central.key('admin')}"},
    )
    assert r.status_code == 403 and "API keys cannot sign" in r.json()["error"]


def test_first_signing_needs_name_and_password_later_ones_the_password(site: Site) -> None:
    name = person(site)
    with session(site, name) as (client, headers):
        first = site.raise_alarm("fridge-2.temp", 9.5, 8.0)
        r = signed_ack(client, headers, first, password=PASSWORD, **SIGN)
        assert r.status_code == 403 and "user name" in r.json()["error"]
        r = signed_ack(client, headers, first, username=name, password=PASSWORD, **SIGN)
        assert r.status_code == 200, r.text
        signature = r.json()["signature"]
        assert (signature["signer"], signature["meaning"]) == (name, "acknowledged")
        assert signature["reason"] == SIGN["reason"] and signature["signed_at"].endswith("Z")
        assert signature["zone"] and signature["local_time"]
        second = site.raise_alarm("fridge-2.temp", 9.6, 8.0)
        r = signed_ack(client, headers, second, password=PASSWORD, **SIGN)
        assert r.status_code == 200, r.text
    with session(site, name) as (client, headers):  # a new session starts over
        third = site.raise_alarm("fridge-2.temp", 9.7, 8.0)
        assert signed_ack(client, headers, third, password=PASSWORD, **SIGN).status_code == 403
    listed = site.central.get(
        "/api/v1/signatures", record_type="alarm_ack", record_id=str(r.json()["id"])
    ).json()["signatures"]
    assert [s["signer"] for s in listed] == [name]


def test_meaning_and_reason_are_required(site: Site) -> None:
    name = person(site)
    alarm_id = site.raise_alarm("fridge-2.temp", 9.5, 8.0)
    with session(site, name) as (client, headers):
        base = {"username": name, "password": PASSWORD}
        r = signed_ack(client, headers, alarm_id, **base, reason="x")
        assert r.status_code == 400 and "meaning" in r.json()["error"]
        r = signed_ack(client, headers, alarm_id, **base, meaning="because", reason="x")
        assert r.status_code == 400 and "approved" in r.json()["error"]
        r = signed_ack(client, headers, alarm_id, **base, meaning="acknowledged", reason="  ")
        assert r.status_code == 400 and "reason" in r.json()["error"]
    assert site.central.count("alarm_acks", "alarm_id = ?", (alarm_id,)) == 0


def test_wrong_password_is_refused_audited_and_counted_against_sign_in(site: Site) -> None:
    name = person(site)
    alarm_id = site.raise_alarm("fridge-2.temp", 9.5, 8.0)
    with session(site, name) as (client, headers):
        for _ in range(5):
            r = signed_ack(client, headers, alarm_id, username=name, password="wrong!!!!!!", **SIGN)
            assert r.status_code == 403
        r = signed_ack(client, headers, alarm_id, username=name, password=PASSWORD, **SIGN)
        assert r.status_code == 429  # the login limiter: 5 failures per name
    r = httpx.post(f"{site.url}/api/v1/session", json={"username": name, "password": PASSWORD})
    assert r.status_code == 429
    assert site.central.count("alarm_acks", "alarm_id = ?", (alarm_id,)) == 0
    assert site.central.count("audit", "action = 'signature.failed' AND target = ?", (name,)) == 5


def test_a_signed_ack_edited_in_the_database_is_found_by_verification(site: Site) -> None:
    name = person(site)
    alarm_id = site.raise_alarm("fridge-2.temp", 9.5, 8.0)
    with session(site, name) as (client, headers):
        r = signed_ack(client, headers, alarm_id, username=name, password=PASSWORD, **SIGN)
        assert r.status_code == 200
    ack_id = r.json()["id"]
    digest = r.json()["signature"]["content_sha256"]
    audit = site.central.get("/api/v1/audit", limit=50).json()
    assert audit["signatures"]["ok"]
    row = next(
        e
        for e in audit["entries"]
        if e["action"] == "signature.alarm_ack" and e["target"] == str(ack_id)
    )
    assert digest in row["new_value"]  # the signed content's hash is in the chained row
    with contextlib.closing(sqlite3.connect(site.sqlite_path(), timeout=30)) as conn, conn:
        conn.execute("DROP TRIGGER alarm_acks_no_update")  # what a tamperer would do
        conn.execute("UPDATE alarm_acks SET comment = 'all fine' WHERE id = ?", (ack_id,))
    audit = site.central.get("/api/v1/audit", limit=5).json()
    assert audit["chain"]["ok"]  # the chain alone cannot see it ...
    problems = audit["signatures"]["problems"]  # ... the signature check does
    assert [(p["record_id"], p["problem"]) for p in problems] == [
        (str(ack_id), "the signed record was changed after signing")
    ]
    code, out, err = run_cli("verify", "--db", site.central.db, "--json")  # and `central verify`
    assert code == 1, err
    report = json.loads(out)
    assert report["checks"]["signatures"] == "failed"
    assert f"alarm_ack {ack_id}: the signed record was changed after signing" in (
        " ".join(report["problems"])
    )
    with contextlib.closing(sqlite3.connect(site.sqlite_path(), timeout=30)) as conn, conn:
        conn.execute("UPDATE alarm_acks SET comment = ? WHERE id = ?", (SIGN["reason"], ack_id))
        conn.execute(
            "CREATE TRIGGER alarm_acks_no_update BEFORE UPDATE ON alarm_acks "
            "BEGIN SELECT RAISE(ABORT, 'alarm_acks is append-only'); END"
        )
    assert site.central.get("/api/v1/signatures/verify").json()["ok"]


def test_a_sensor_group_is_signed_all_in_one_transaction_or_not_at_all(site: Site) -> None:
    name = person(site)
    sensor = "fridge-4.temp"
    first, second = (site.raise_alarm(sensor, 9.5, 8.0) for _ in range(2))
    other = site.raise_alarm("fridge-2.temp", 9.5, 8.0)
    url = f"/api/v1/sensors/{sensor}/signed-ack"
    signature = {"username": name, "password": PASSWORD, **SIGN}
    signed_before = site.central.count("signatures")
    with session(site, name) as (client, headers):
        for bad, why in [(other, "an alarm of 'fridge-2.temp'"), ("gw:nope:high:1", "no such")]:
            body = {"signature": signature, "alarm_ids": [first, bad, second]}
            r = client.post(url, json=body, headers=headers)
            assert r.status_code == 404, r.text
            assert f"alarm {bad!r} cannot be signed ({why}" in r.json()["error"]
            assert site.central.count("alarm_acks", "alarm_id IN (?, ?)", (first, second)) == 0
            assert site.central.count("signatures") == signed_before
        # the refused groups were no signing: the session's first one still needs the name
        r = client.post(url, json={"signature": signature, "alarm_ids": [first, second]},
                        headers=headers)  # fmt: skip
        assert r.status_code == 200, r.text
    acks = r.json()["acks"]
    assert [a["alarm_id"] for a in acks] == [first, second]
    assert {a["signature"]["record_id"] for a in acks} == {str(a["id"]) for a in acks}
    assert all(a["signature"]["signer"] == name for a in acks)
    assert site.central.count("signatures") == signed_before + 2
    verdict = site.central.get("/api/v1/signatures/verify").json()
    assert verdict["ok"], verdict


def test_role_change_is_signed(site: Site) -> None:
    target = person(site, "viewer")
    client, csrf = site.login("ada")
    body = {
        "role": "operator",
        "signature": {
            "username": "ada",
            "password": PASSWORD,
            "meaning": "approved",
            "reason": "new shift lead",
        },
    }
    r = client.post(f"/api/v1/users/{target}/role", json=body, headers={"x-csrf-token": csrf})
    assert r.status_code == 200, r.text
    users = {u["name"]: u for u in client.get("/api/v1/users").json()["users"]}
    assert users[target]["role"] == "operator"
    listed = client.get(
        "/api/v1/signatures", params={"record_type": "user_role", "record_id": target}
    ).json()
    assert listed["signatures"][0]["meaning"] == "approved"


def test_report_approval_signs_the_figures_seen_and_the_pdf_is_audited(site: Site) -> None:
    sensor = f"qa-{secrets.token_hex(3)}.temp"
    batch, _, _ = rec.events(GATEWAY, sensor)
    for e in batch:  # the seeded gateway's sequence continues
        seq = site.next_seq()
        e["id"], e["data"]["seq"] = f"{GATEWAY}:{seq}", seq
    site.send(batch)
    name = person(site)
    period = {"from": rec.T0, "to": rec.END}
    report = site.central.get(f"/api/v1/reports/sensors/{sensor}", **period).json()
    approval = {"kind": "sensor", "subject": sensor, "from": report["from"], "to": report["to"]}
    sig = {"username": name, "password": PASSWORD, "meaning": "approved", "reason": "reviewed"}
    with session(site, name) as (client, headers):
        r = client.post(
            "/api/v1/reports/approvals",
            headers=headers,
            json={**approval, "content_sha256": "0" * 64, "signature": sig},
        )
        assert r.status_code == 409 and r.json()["content_sha256"] == report["content_sha256"]
        r = client.post(
            "/api/v1/reports/approvals",
            headers=headers,
            json={**approval, "content_sha256": report["content_sha256"], "signature": sig},
        )
        assert r.status_code == 200, r.text
    again = site.central.get(f"/api/v1/reports/sensors/{sensor}", **period).json()
    assert again["content_sha256"] == report["content_sha256"]
    assert [(a["signer"], a["meaning"], a["current"]) for a in again["approvals"]] == [
        (name, "approved", True)
    ]
    pdf = site.central.get(f"/api/v1/reports/sensors/{sensor}", **period, format="pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    digest = hashlib.sha256(pdf.content).hexdigest()
    assert pdf.headers["x-document-sha256"] == digest
    text = subprocess.run(
        ["pdftotext", "-", "-"], input=pdf.content, capture_output=True, check=True
    ).stdout.decode()
    text = " ".join(text.split())  # table cells wrap
    for expected in (
        f"Excursion report: sensor {sensor}",
        "2025-11-24 17:00:00",
        "shorter than the alarm delay",
        "Signatures",
        name,
        "approved",
        "reviewed",
        report["content_sha256"][:32],
        "Gaps in the data",
    ):
        assert expected in text, expected
    entries = site.central.get("/api/v1/audit", limit=20).json()["entries"]
    assert any(e["action"] == "report.pdf" and digest in (e["new_value"] or "") for e in entries)


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> Iterator[Site]:
    workdir = tmp_path_factory.mktemp("strict")
    with fresh_db("sqlite", workdir, postgres_url) as db:
        make_people(db, workdir)
        with start_central(db, "sqlite", workdir, "--require-signatures") as central:
            site = Site(central, central.token(GATEWAY), workdir)
            try:
                yield site
            finally:
                site.close()


def test_require_signatures_refuses_the_plain_ack_and_unsigned_role_changes(strict: Site) -> None:
    alarm_id = strict.raise_alarm("fridge-2.temp", 9.5, 8.0)
    plain = strict.central.post(f"/api/v1/alarms/{alarm_id}/ack", {"by": "t", "comment": "c"})
    assert plain.status_code == 403 and "signed-ack" in plain.json()["error"]
    client, csrf = strict.login("ada")
    r = client.patch(
        "/api/v1/users/victor", json={"role": "operator"}, headers={"x-csrf-token": csrf}
    )
    assert r.status_code == 400 and "signed" in r.json()["error"]
    body = {"by": "t", "comment": "c"}
    sensor_ack = strict.central.post("/api/v1/sensors/fridge-2.temp/ack", body)
    assert sensor_ack.status_code == 403 and "signed-ack" in sensor_ack.json()["error"]
    with (
        live_stream(strict) as lines,
        session(strict, "olga") as (c, headers),
    ):
        r = signed_ack(c, headers, alarm_id, username="olga", password=PASSWORD, **SIGN)
        assert r.status_code == 200, r.text
        got = next_event(lines, ev.ALARM_ACKNOWLEDGED, alarm_id)  # announced like a plain ack
    assert got["data"]["by"] == "olga" and got["data"]["signature"]["meaning"] == "acknowledged"
    assert strict.central.count("alarm_acks", "alarm_id = ?", (alarm_id,)) == 1
    # the alarm list shows who signed, with which meaning and when
    listed = strict.central.get("/api/v1/alarms", state="all").json()["alarms"]
    (ack,) = next(a for a in listed if a["alarm_id"] == alarm_id)["acks"]
    assert ack["by"] == "olga" and ack["comment"] == SIGN["reason"]
    shown = ack["signature"]
    assert (shown["signer"], shown["meaning"]) == ("olga", "acknowledged")
    assert shown["reason"] == SIGN["reason"]
    assert shown["signed_at"].endswith("Z") and shown["local_time"] and shown["zone"]
