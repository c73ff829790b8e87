"""Login checks across 30 days with known figures, for the dashboard's tests.

Times are relative to ``now`` and kept clear of the periods' edges (local midnights, the
24-hour window), so the expected figures hold whatever the hour the suite runs at:

- on each of the days 1-5 and 7-28 before now (12 hours earlier than now's time of day):
  6 allowed (verified device, 80 ms), 2 challenged as new devices (250 ms; one passed in
  45 s, one given up), 1 challenged without a token (the SDK did not load; expired, its
  owner emailed after the timeout), 1 blocked (blocked device, 80 ms); and two new
  devices, one of them verified;
- in the last 3 hours: a provider timeout challenged and passed in 100 s (2000 ms); a new
  device 40 minutes ago still pending (so counted as expired) whose owner was emailed after
  wrong codes; and 5 minutes ago, a challenge with the breaker open, an allowed sign-in
  (80 ms) and a challenge without a token and no reason given, both still pending; one new
  device, not verified;
- 40 days ago, a day's worth that no period counts.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from rupt_guard.choices import ChallengeResult, CheckSource, Decision, ErrorReason, Reason
from rupt_guard.models import Device, LoginCheck

OLDER_DAYS = (*range(1, 6), *range(7, 29))
DAY_IN_7D = 5  # days 1-5

# The expected figures, per period.
EXPECTED = {
    "24h": {
        "sign_ins": 5,
        "decisions": {"allow": 1, "challenge": 4, "block": 0},
        "provider_error": 2,
        "asked": 4,
        "without_token": 1,
        "passed": 1,
        "given_up": 0,
        "expired": 1,
        "pending": 2,
        "wrong_codes": 1,
        "new_devices": 1,
        "verified_devices": 0,
        "p50_ms": 100,
        "p95_ms": 2000,
        "median_to_pass": 120,
    },
    "7d": {
        "sign_ins": 5 + 10 * DAY_IN_7D,
        "decisions": {"allow": 1 + 6 * 5, "challenge": 4 + 3 * 5, "block": 5},
        "provider_error": 2,
        "asked": 4 + 9 * 5,
        "without_token": 1 + 5,
        "passed": 1 + 5,
        "given_up": 5,
        "expired": 1 + 5,
        "pending": 2,
        "wrong_codes": 1,
        "new_devices": 1 + 2 * 5,
        "verified_devices": 5,
        "p50_ms": 100,
        "p95_ms": 300,
        "median_to_pass": 60,
    },
    "30d": {
        "sign_ins": 5 + 10 * len(OLDER_DAYS),
        "decisions": {"allow": 1 + 6 * 27, "challenge": 4 + 3 * 27, "block": 27},
        "provider_error": 2,
        "asked": 4 + 9 * 27,
        "without_token": 1 + 27,
        "passed": 1 + 27,
        "given_up": 27,
        "expired": 1 + 27,
        "pending": 2,
        "wrong_codes": 1,
        "new_devices": 1 + 2 * 27,
        "verified_devices": 27,
        "p50_ms": 100,
        "p95_ms": 300,
        "median_to_pass": 60,
    },
}


def _check(user: Any, at: datetime, decision: str, reason: str, **fields: Any) -> LoginCheck:
    return LoginCheck(
        user=user,
        created_at=at,
        source=CheckSource.FORM,
        decision=decision,
        reason=reason,
        **fields,
    )


def day_of_checks(user: Any, at: datetime) -> list[LoginCheck]:
    allow = [
        _check(user, at, Decision.ALLOW, Reason.VERIFIED_DEVICE, provider_ms=80) for _ in range(6)
    ]
    return [
        *allow,
        _check(
            user,
            at,
            Decision.CHALLENGE,
            Reason.NEW_DEVICE,
            new_device=True,
            provider_ms=250,
            challenge_result=ChallengeResult.PASSED,
            challenge_ended_at=at + timedelta(seconds=45),
            trusted_browser=True,
        ),
        _check(
            user,
            at,
            Decision.CHALLENGE,
            Reason.NEW_DEVICE,
            new_device=True,
            provider_ms=250,
            challenge_result=ChallengeResult.GIVEN_UP,
            challenge_ended_at=at + timedelta(seconds=20),
        ),
        _check(
            user,
            at,
            Decision.CHALLENGE,
            Reason.MISSING_TOKEN,
            token_error="sdk_unavailable",
            challenge_result=ChallengeResult.EXPIRED,
            challenge_ended_at=at + timedelta(minutes=10),
            owner_notified_at=at + timedelta(minutes=11),
        ),
        _check(user, at, Decision.BLOCK, Reason.BLOCKED_DEVICE, provider_ms=80),
    ]


def recent_checks(user: Any, now: datetime) -> list[LoginCheck]:
    three_hours = now - timedelta(hours=3)
    forty_minutes = now - timedelta(minutes=40)
    five_minutes = now - timedelta(minutes=5)
    return [
        _check(
            user,
            three_hours,
            Decision.CHALLENGE,
            Reason.PROVIDER_ERROR,
            provider_error=ErrorReason.TIMEOUT,
            provider_ms=2000,
            challenge_result=ChallengeResult.PASSED,
            challenge_ended_at=three_hours + timedelta(seconds=100),
        ),
        _check(
            user,
            forty_minutes,
            Decision.CHALLENGE,
            Reason.NEW_DEVICE,
            new_device=True,
            provider_ms=80,
            challenge_result=ChallengeResult.PENDING,
            owner_notified_at=forty_minutes + timedelta(minutes=2),
        ),
        _check(
            user,
            five_minutes,
            Decision.CHALLENGE,
            Reason.PROVIDER_ERROR,
            provider_error=ErrorReason.BREAKER_OPEN,
            provider_ms=1,
            challenge_result=ChallengeResult.PENDING,
        ),
        _check(user, five_minutes, Decision.ALLOW, Reason.VERIFIED_DEVICE, provider_ms=80),
        _check(
            user,
            five_minutes,
            Decision.CHALLENGE,
            Reason.MISSING_TOKEN,
            challenge_result=ChallengeResult.PENDING,
        ),
    ]


def seed(user: Any, now: datetime | None = None, *, repeat: int = 1) -> datetime:
    """The checks and devices described above (``repeat`` times each older day's, for a
    bigger table with the same recent figures); returns the ``now`` they are relative to."""
    now = now or timezone.now()
    checks = recent_checks(user, now)
    devices = [Device(user=user, external_id="recent", first_seen_at=now - timedelta(minutes=40))]
    for days in (*OLDER_DAYS, 40):
        at = now - timedelta(days=days, hours=12)
        for _ in range(repeat):
            checks += day_of_checks(user, at)
        devices += [
            Device(user=user, external_id=f"day-{days}-a", first_seen_at=at, verified_at=at),
            Device(user=user, external_id=f"day-{days}-b", first_seen_at=at),
        ]
    LoginCheck.objects.bulk_create(checks, batch_size=500)
    Device.objects.bulk_create(devices)
    return now
