"""The benchmark's PostgreSQL database and its million-row tables, built by SQL.

Rows come from ``generate_series`` inside the server (no Python loop, no network per row):
``users`` accounts with ten devices each on average, one account (``many``) with
``many_devices`` devices, and ``checks`` login checks spread evenly over 360 days, so that
half of them are older than the default 180-day retention and ``rupt_guard_prune`` has
``checks / 2`` rows to delete. Secondary indexes are dropped during the load and built
again after it, foreign-key triggers are off (the rows are consistent by construction),
and the tables are vacuumed and analyzed, as a site's long-lived tables would be.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

import psycopg

ADMIN_DSN = "host=127.0.0.1 user=postgres dbname=postgres"


@dataclass(frozen=True)
class Scale:
    users: int
    devices: int
    many_devices: int
    checks: int
    label: str

    @property
    def old_checks(self) -> int:
        return self.checks // 2


FULL = Scale(users=100_000, devices=1_000_000, many_devices=10_000, checks=5_000_000, label="")
QUICK = Scale(users=2_000, devices=20_000, many_devices=1_000, checks=50_000, label="quick")


def scaled(base: Scale, factor: float) -> Scale:
    return Scale(
        users=max(100, int(base.users * factor)),
        devices=max(1_000, int(base.devices * factor)),
        many_devices=max(100, int(base.many_devices * factor)),
        checks=max(1_000, int(base.checks * factor)),
        label=base.label or f"x{factor:g}",
    )


def dsn(database: str) -> str:
    return f"host=127.0.0.1 user=postgres dbname={database}"


def recreate(database: str) -> None:
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{database}"')


def drop(database: str) -> None:
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


USERS = """
INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email,
                       is_staff, is_active, date_joined)
SELECT '!', false, 'user-' || i, '', '', 'user-' || i || '@example.com', false, true,
       now() - interval '2 years'
FROM generate_series(1, %(users)s) AS i;
INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email,
                       is_staff, is_active, date_joined)
VALUES ('!', false, 'many', '', '', 'many@example.com', false, true, now())
"""

# Device i belongs to user-(i % users + 1); seen within the last year (the default device
# retention is 365 days: prune deletes checks only); every second one verified, every
# thousandth blocked.
DEVICES = """
INSERT INTO rupt_guard_device (external_id, label, first_seen_at, last_seen_at, last_ip,
    last_user_agent, verified_at, verification_method, verified_with, blocked_at, metadata,
    metadata_sync_pending, user_id, trust_revoked_at)
SELECT substr(md5(i::text), 1, 24), '', now() - interval '400 days',
       now() - ((i::bigint * 7919) %% 525000) * interval '1 minute',
       ('10.' || (i >> 16) %% 256 || '.' || (i >> 8) %% 256 || '.' || i %% 256)::inet,
       'Mozilla/5.0 (X11; Linux x86_64; rv:' || (100 + i %% 30) || '.0) Gecko/20100101',
       CASE WHEN i %% 2 = 0 THEN now() - interval '30 days' END,
       CASE WHEN i %% 2 = 0 THEN 'email' ELSE '' END, '',
       CASE WHEN i %% 1000 = 999 THEN now() END, '{}', false,
       %(first_user)s + i %% %(users)s, NULL
FROM generate_series(0, %(devices)s - 1) AS i;
INSERT INTO rupt_guard_device (external_id, label, first_seen_at, last_seen_at, last_ip,
    last_user_agent, verified_at, verification_method, verified_with, blocked_at, metadata,
    metadata_sync_pending, user_id, trust_revoked_at)
SELECT 'many-' || i, CASE WHEN i %% 7 = 0 THEN 'Device ' || i ELSE '' END,
       now() - interval '400 days', now() - i * interval '1 minute', '10.9.9.9',
       'Mozilla/5.0 (Macintosh; Intel Mac OS X 14.1; rv:120.0) Gecko/20100101 Firefox/120.0',
       CASE WHEN i %% 2 = 0 THEN now() END, CASE WHEN i %% 2 = 0 THEN 'totp' ELSE '' END, '',
       CASE WHEN i %% 100 = 99 THEN now() END, '{}', false,
       (SELECT id FROM auth_user WHERE username = 'many'), NULL
FROM generate_series(0, %(many_devices)s - 1) AS i;
"""

# Check i is device (i % devices)'s, so its user matches; created evenly over 360 days.
# 2 % come from the API and 5 % from another login path; 0.5 % had a provider error.
CHECKS = """
INSERT INTO rupt_guard_logincheck (created_at, source, decision, reason, new_device,
    provider_error, provider_status, provider_ms, access_id, ip, user_agent, reported_at,
    device_id, user_id, challenge_ended_at, challenge_result, token_error,
    owner_notified_at, trusted_browser)
SELECT now() - (i::float8 / %(checks)s * 360) * interval '1 day',
       CASE WHEN i %% 50 = 0 THEN 'api' WHEN i %% 20 = 0 THEN 'login' ELSE 'form' END,
       CASE WHEN i %% 10 = 0 THEN 'challenge' ELSE 'allow' END,
       CASE WHEN i %% 200 = 0 THEN 'provider_error'
            WHEN i %% 10 = 0 THEN 'new_device' ELSE 'verified_device' END,
       i %% 10 = 0,
       CASE WHEN i %% 200 = 0 THEN 'timeout' ELSE '' END,
       CASE WHEN i %% 200 = 0 THEN NULL ELSE 200 END, 20 + i %% 50,
       substr(md5(i::text), 1, 24),
       ('10.' || (i >> 16) %% 256 || '.' || (i >> 8) %% 256 || '.' || i %% 256)::inet,
       'Mozilla/5.0 (X11; Linux x86_64; rv:' || (100 + i %% 30) || '.0) Gecko/20100101',
       NULL, %(first_device)s + i %% %(devices)s, %(first_user)s + (i %% %(devices)s) %% %(users)s,
       CASE WHEN i %% 10 = 0 THEN now() END, CASE WHEN i %% 10 = 0 THEN 'passed' ELSE '' END,
       '', NULL, CASE WHEN i %% 10 = 0 THEN true END
FROM generate_series(0, %(checks)s - 1) AS i;
"""

SECONDARY_INDEXES = """
SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
FROM pg_index i
WHERE i.indrelid = %(table)s::regclass
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
"""


def load(database: str, scale: Scale) -> None:
    """Fill the migrated ``database`` with ``scale``'s rows, then vacuum and analyze."""
    tables = ("auth_user", "rupt_guard_device", "rupt_guard_logincheck")
    with psycopg.connect(dsn(database)) as conn:
        conn.execute("SET session_replication_role = replica")  # no FK triggers per row
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET maintenance_work_mem = '256MB'")
        saved = []
        for table in tables:
            for name, definition in conn.execute(SECONDARY_INDEXES, {"table": table}):
                saved.append(definition)
                conn.execute(f"DROP INDEX {name}")
        params = {
            "users": scale.users,
            "devices": scale.devices,
            "many_devices": scale.many_devices,
            "checks": scale.checks,
        }
        _script(conn, USERS, params)
        (first_user,) = conn.execute(
            "SELECT id FROM auth_user WHERE username = 'user-1'"
        ).fetchone()
        _script(conn, DEVICES, {**params, "first_user": first_user})
        (first_device,) = conn.execute("SELECT min(id) FROM rupt_guard_device").fetchone()
        conn.execute(CHECKS, {**params, "first_user": first_user, "first_device": first_device})
        for definition in saved:
            conn.execute(definition)
        conn.commit()
    with psycopg.connect(dsn(database), autocommit=True) as conn:
        conn.execute(f"VACUUM (ANALYZE) {', '.join(tables)}")


def _script(conn: psycopg.Connection, script: str, params: dict[str, int]) -> None:
    # One statement an execute: psycopg binds parameters server-side, one command at a time.
    for statement in script.split(";\n"):
        if statement.strip():
            conn.execute(statement, params)


def count(database: str, table: str) -> int:
    with psycopg.connect(dsn(database)) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608


def server_version() -> str:
    with psycopg.connect(ADMIN_DSN) as conn:
        return conn.execute("SHOW server_version").fetchone()[0]


def run_quietly(args: list[str], env: dict[str, str]) -> None:
    subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL)  # noqa: S603
