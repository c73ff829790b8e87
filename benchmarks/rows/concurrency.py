"""Concurrent sign-ins over HTTP: gunicorn, 4 sync workers, PostgreSQL, the fake Rupt.

Client ``i`` signs in as its own account (``signin-i`` or ``slow-i``), so no row lock is
contended and no per-account limit applies (the bench site turns the limits off: every
client comes from 127.0.0.1). Allowed: the account's verified device, a fresh token each
time. Challenged: a device never seen, which lands on the challenge page (not followed).
"""

from __future__ import annotations

import time

from benchmarks import load
from benchmarks.bench import Bench, interleaved
from benchmarks.fake_rupt import token_for
from benchmarks.figures import median, ratio
from benchmarks.registry import Result, measurement

# LoginView redirects both to LOGIN_REDIRECT_URL; the gate sends a challenged session on
# to the challenge at its next request (not made: the round times the sign-in itself).
LANDS_ON = "/hello/"


def _clients(bench: Bench) -> int:
    return bench.n(200, 20)


def _round(bench: Bench, variant: str, hasher: str, each: int, new_device: bool = False):
    server = bench.gunicorn(variant, hasher)
    prefix = "signin" if hasher == "md5" else "slow"

    def token(i: int) -> str | None:
        if variant == "plain":
            return None
        device = f"new{load.nonce()[:12]}" if new_device else f"known-{i}"
        return token_for(device, load.nonce())

    since = time.time()
    found = load.run(
        server.port,
        _clients(bench),
        each,
        account=lambda i: f"{prefix}-{i}",
        token=token,
        lands_on=LANDS_ON,
    )
    if variant == "guarded":
        # The round measured what it meant to: every sign-in allowed, or challenged.
        decided = bench.worker("guarded").call("decisions", since=since)["decisions"]
        meant = "challenge" if new_device else "allow"
        if set(decided) != {meant}:
            raise RuntimeError(f"meant {meant}, the site decided {decided}")
    return found


def _rates(found: list[load.LoadResult]) -> tuple[float, int]:
    return median(r.rate for r in found), sum(r.unexpected for r in found)


def _warm(bench: Bench, hasher: str) -> None:
    for variant in ("plain", "guarded"):
        _round(bench, variant, hasher, 1)


def _per_second(rate: float) -> str:
    # Django's default hasher makes a few a second: their tenths matter.
    return f"{rate:.1f}/s" if abs(rate) < 10 else f"{rate:.0f}/s"


def _said(rate: float, failed: int) -> str:
    return _per_second(rate) + (f" ({failed} failed)" if failed else "")


@measurement(
    "concurrent_default",
    "200 concurrent sign-ins, gunicorn 4 workers, PostgreSQL, Django's default hasher",
    ">= 0.9x plain",
)
def concurrent_default_hasher(bench: Bench) -> Result:
    _warm(bench, "default")
    found = interleaved(
        bench.n(2, 1),
        {
            "plain": lambda: _round(bench, "plain", "default", 1),
            "guarded": lambda: _round(bench, "guarded", "default", 1),
        },
    )
    (plain, plain_failed), (guarded, guarded_failed) = (
        _rates(found["plain"]),
        _rates(found["guarded"]),
    )
    bench.stop_gunicorn("plain", "default")
    bench.stop_gunicorn("guarded", "default")
    return Result(
        plain=_said(plain, plain_failed),
        guarded=_said(guarded, guarded_failed),
        difference=("+" if guarded >= plain else "-") + _per_second(abs(guarded - plain)),
        ratio=ratio(guarded, plain),
        met=guarded / plain >= 0.9 and not guarded_failed,
        note=f"{_clients(bench)} clients" if bench.quick else "",
    )


@measurement(
    "concurrent_md5",
    "the same with the MD5 hasher (our cost exposed)",
    ">= 0.7x plain",
)
def concurrent_md5(bench: Bench) -> Result:
    _warm(bench, "md5")
    each = bench.n(5, 2)
    found = interleaved(
        bench.n(3, 1),
        {
            "plain": lambda: _round(bench, "plain", "md5", each),
            "allowed": lambda: _round(bench, "guarded", "md5", each),
            "challenged": lambda: _round(bench, "guarded", "md5", each, new_device=True),
        },
    )
    plain, plain_failed = _rates(found["plain"])
    allowed, allowed_failed = _rates(found["allowed"])
    challenged, challenged_failed = _rates(found["challenged"])
    return Result(
        plain=_said(plain, plain_failed),
        guarded=(
            f"{_said(allowed, allowed_failed)} allowed ({ratio(allowed, plain)}), "
            f"{_said(challenged, challenged_failed)} challenged"
        ),
        difference=("+" if allowed >= plain else "-")
        + _per_second(abs(allowed - plain))
        + " allowed",
        ratio=ratio(allowed, plain),
        met=allowed / plain >= 0.7 and not allowed_failed,
        note=f"{_clients(bench)} clients, {each} sign-ins each" if bench.quick else "",
    )
