"""The hourly rollup of the login checks (see ``rupt_guard.stats.rollup``).

Counts only: no user, address or device, so the rollup may outlive the checks it counts
(the prune deletes checks; rollups are deleted after ``rollup.KEEP_DAYS``).
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from rupt_guard.choices import ChallengeResult, Decision, ErrorReason, Reason, TokenError


class CheckHour(models.Model):
    """How many checks of one hour (UTC) had one combination of decision, reason and the
    rest. A few dozen rows an hour: the columns are correlated (a provider error only with
    its reason, a challenge result only with a challenge)."""

    hour = models.DateTimeField(_("hour"))
    decision = models.CharField(_("decision"), max_length=10, choices=Decision.choices)
    reason = models.CharField(_("reason"), max_length=40, choices=Reason.choices)
    provider_error = models.CharField(
        _("provider error"), max_length=20, choices=ErrorReason.choices, blank=True
    )
    token_error = models.CharField(
        _("browser's reason for no token"), max_length=20, choices=TokenError.choices, blank=True
    )
    # The challenge's result as it stands once the hour is settled: a challenge still
    # pending after CHALLENGE_TIMEOUT is counted as expired (the sweep may not have run).
    result = models.CharField(
        _("challenge result"), max_length=10, choices=ChallengeResult.choices, blank=True
    )
    with_token = models.BooleanField(_("identification token sent"))
    new_device = models.BooleanField(_("new device"))
    # The owner was emailed while the challenge could still be answered: after
    # FAILED_CODES_BEFORE_NOTICE wrong codes (or another account's sign-in over it).
    wrong_codes = models.BooleanField(_("owner emailed after wrong codes"))
    checks = models.PositiveIntegerField(_("login checks"))

    class Meta:
        verbose_name = _("hourly login-check count")
        verbose_name_plural = _("hourly login-check counts")
        default_permissions = ()
        constraints = [
            # Also the index of the dashboard's range reads, which lead with the hour.
            models.UniqueConstraint(
                fields=[
                    "hour",
                    "decision",
                    "reason",
                    "provider_error",
                    "token_error",
                    "result",
                    "with_token",
                    "new_device",
                    "wrong_codes",
                ],
                name="rupt_guard_hour_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H:00} {self.decision}/{self.reason}: {self.checks}"


class CheckHistogram(models.Model):
    """How many checks of one hour fell in one bucket of a measure: the provider's time
    (``provider_ms``) or the time a challenge took to pass (``pass_seconds``). Percentiles
    are read from these fixed buckets, so they are approximate."""

    class Measure(models.TextChoices):
        PROVIDER_MS = "provider_ms", _("provider time (ms)")
        PASS_SECONDS = "pass_seconds", _("time to pass a challenge (s)")

    hour = models.DateTimeField(_("hour"))
    measure = models.CharField(_("measure"), max_length=20, choices=Measure.choices)
    bucket = models.PositiveSmallIntegerField(_("bucket"))
    checks = models.PositiveIntegerField(_("login checks"))

    class Meta:
        verbose_name = _("hourly histogram")
        verbose_name_plural = _("hourly histograms")
        default_permissions = ()
        constraints = [
            models.UniqueConstraint(
                fields=["hour", "measure", "bucket"], name="rupt_guard_histogram_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H:00} {self.measure}[{self.bucket}]: {self.checks}"


class RollupState(models.Model):
    """One row: the hours before ``rolled_up_to`` are in the rollup, final."""

    rolled_up_to = models.DateTimeField(_("rolled up to"))

    class Meta:
        verbose_name = _("rollup state")
        verbose_name_plural = _("rollup state")
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.rolled_up_to:%Y-%m-%d %H:00}"


class Dashboard(models.Model):
    """Not a table: the admin's dashboard, listed in the app's section of the admin index
    like a model (``rupt_guard.stats.admin``). Django lists only registered models there;
    a model of its own (unmanaged, no permissions of its own) is the least surprising way
    to add a link, where overriding ``admin/index.html`` would fight the site's own."""

    class Meta:
        managed = False
        default_permissions = ()
        verbose_name = _("dashboard")
        verbose_name_plural = _("dashboard")

    def __str__(self) -> str:
        return str(self._meta.verbose_name)
