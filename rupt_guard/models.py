"""What the app remembers: each (user, device) with its MFA status, and every risk check."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from rupt_guard.choices import (
    ChallengeResult,
    CheckSource,
    Decision,
    ErrorReason,
    Reason,
    TokenError,
    TrustAction,
    VerificationMethod,
)


class Device(models.Model):
    """A browser or device that has signed in to one account, as the provider identifies it."""

    # No index of its own: the unique (user, device id) pair leads with it, and every
    # index costs each sign-in a write.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="rupt_guard_devices",
        verbose_name=_("user"),
        db_index=False,
    )
    external_id = models.CharField(
        _("device id"), max_length=128, help_text=_("The identification provider's device id.")
    )
    label = models.CharField(_("label"), max_length=100, blank=True)
    first_seen_at = models.DateTimeField(_("first seen"), default=timezone.now)
    last_seen_at = models.DateTimeField(_("last seen"), default=timezone.now)
    last_ip = models.GenericIPAddressField(_("last IP address"), null=True, blank=True)
    last_user_agent = models.CharField(_("last user agent"), max_length=512, blank=True)
    verified_at = models.DateTimeField(_("verified at"), null=True, blank=True)
    verification_method = models.CharField(
        _("verified with"), max_length=20, choices=VerificationMethod.choices, blank=True
    )
    verified_with = models.CharField(
        _("second factor"),
        max_length=255,
        blank=True,
        help_text=_("The django-otp device (persistent id) that verified this device."),
    )
    blocked_at = models.DateTimeField(_("blocked at"), null=True, blank=True)
    trust_revoked_at = models.DateTimeField(
        _("trust withdrawn at"),
        null=True,
        blank=True,
        help_text=_(
            "When this device's verification was last withdrawn. Provider metadata written "
            "before this time no longer vouches for it."
        ),
    )
    metadata = models.JSONField(
        _("provider metadata"),
        default=dict,
        blank=True,
        help_text=_(
            "This account's entries in the provider's verification field, as returned last."
        ),
    )
    metadata_sync_pending = models.BooleanField(
        _("metadata update pending"),
        default=False,
        help_text=_("The provider has not accepted this device's verification record yet."),
    )

    class Meta:
        verbose_name = _("device")
        verbose_name_plural = _("devices")
        ordering = ["-last_seen_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "external_id"], name="rupt_guard_device_once_per_user"
            ),
        ]
        indexes = [
            models.Index(fields=["user", "-last_seen_at"], name="rupt_guard_dev_user_seen"),
            models.Index(fields=["last_seen_at"], name="rupt_guard_dev_seen"),
            # Equality, and the admin's prefix search (LIKE 'id%'), in any collation:
            # varchar_pattern_ops on PostgreSQL, a plain index elsewhere.
            models.Index(
                fields=["external_id"],
                opclasses=["varchar_pattern_ops"],
                name="rupt_guard_dev_ext_prefix",
            ),
            # The admin's filters, each in the list's order (newest seen first), so that a
            # page and its bounded count read a few hundred entries whatever the mix.
            models.Index(
                fields=["last_seen_at"],
                condition=Q(verified_at__isnull=False),
                name="rupt_guard_dev_verified",
            ),
            models.Index(
                fields=["last_seen_at"],
                condition=Q(verified_at__isnull=True),
                name="rupt_guard_dev_unverified",
            ),
            models.Index(
                fields=["last_seen_at"],
                condition=Q(blocked_at__isnull=False),
                name="rupt_guard_dev_blocked",
            ),
            # The dashboard's new devices per day and their share verified, read from
            # the index alone. Written once per new device: first_seen_at never changes.
            models.Index(fields=["first_seen_at", "verified_at"], name="rupt_guard_dev_first_seen"),
            models.Index(
                fields=["metadata_sync_pending"],
                condition=Q(metadata_sync_pending=True),
                name="rupt_guard_dev_sync_pending",
            ),
        ]

    def __str__(self) -> str:
        return self.label or self.external_id

    @property
    def is_verified(self) -> bool:
        return self.verified_at is not None

    @property
    def is_blocked(self) -> bool:
        return self.blocked_at is not None


class LoginCheck(models.Model):
    """One risk check of one sign-in: the audit trail."""

    # Served by the (user, time) index below, which leads with it.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="rupt_guard_login_checks",
        verbose_name=_("user"),
        db_index=False,
    )
    device = models.ForeignKey(
        Device,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="login_checks",
        verbose_name=_("device"),
    )
    created_at = models.DateTimeField(_("time"), default=timezone.now)
    source = models.CharField(_("source"), max_length=10, choices=CheckSource.choices)
    decision = models.CharField(_("decision"), max_length=10, choices=Decision.choices)
    reason = models.CharField(_("reason"), max_length=40, choices=Reason.choices)
    new_device = models.BooleanField(_("new device"), default=False)
    provider_error = models.CharField(
        _("provider error"), max_length=20, choices=ErrorReason.choices, blank=True
    )
    token_error = models.CharField(
        _("browser's reason for no token"),
        max_length=20,
        choices=TokenError.choices,
        blank=True,
        help_text=_("What the identify script reported; from the browser, so diagnostic only."),
    )
    provider_status = models.PositiveSmallIntegerField(
        _("provider HTTP status"), null=True, blank=True
    )
    provider_ms = models.PositiveIntegerField(_("provider time (ms)"), null=True, blank=True)
    access_id = models.CharField(_("provider access id"), max_length=128, blank=True)
    # The claim on the identification token lives in the check's own row: one write fewer
    # per sign-in, and a token completed once is never accepted again. NULL, not "", for a
    # check without a token: the partial unique index then holds only real tokens.
    token_digest = models.CharField(  # noqa: DJ001
        _("token digest"),
        max_length=64,
        null=True,
        blank=True,
        editable=False,
        help_text=_("SHA-256 of the identification token this sign-in completed."),
    )
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=512, blank=True)
    challenge_result = models.CharField(
        _("challenge result"), max_length=10, choices=ChallengeResult.choices, blank=True
    )
    challenge_ended_at = models.DateTimeField(_("challenge ended"), null=True, blank=True)
    trusted_browser = models.BooleanField(
        _("browser trusted"),
        null=True,
        blank=True,
        help_text=_(
            'The answer to "Trust this browser" when the challenge passed: no means the '
            "session was let in but the device stays unverified."
        ),
    )
    owner_notified_at = models.DateTimeField(
        _("owner told"),
        null=True,
        blank=True,
        help_text=_("When the owner was emailed that this sign-in was not confirmed."),
    )
    reported_at = models.DateTimeField(
        _("reported by the user"),
        null=True,
        blank=True,
        help_text=_("When the account owner said this sign-in was not theirs."),
    )

    class Meta:
        verbose_name = _("login check")
        verbose_name_plural = _("login checks")
        ordering = ["-created_at"]
        constraints = [
            # A token is completed once: racing replays meet here.
            models.UniqueConstraint(
                fields=["token_digest"],
                condition=Q(token_digest__isnull=False),
                name="rupt_guard_check_token_once",
            ),
        ]
        indexes = [
            models.Index(fields=["created_at"], name="rupt_guard_check_time"),
            models.Index(fields=["user", "-created_at"], name="rupt_guard_check_user_time"),
            models.Index(fields=["decision", "-created_at"], name="rupt_guard_check_decision"),
            models.Index(fields=["reason", "-created_at"], name="rupt_guard_check_reason"),
            models.Index(fields=["source", "-created_at"], name="rupt_guard_check_source"),
            # The admin's provider-error filter: only the few checks that had one.
            models.Index(
                fields=["provider_error", "-created_at"],
                condition=~Q(provider_error=""),
                name="rupt_guard_check_error",
            ),
            # The expiry sweep: only the few challenges still waiting, among millions.
            models.Index(
                fields=["created_at"],
                condition=Q(challenge_result="pending"),
                name="rupt_guard_check_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} ({self.get_reason_display()})"


class DeviceSession(models.Model):
    """A session a sign-in opened, so that revoking its device (or reporting the sign-in)
    can end it. The device is unknown when the sign-in had no usable token."""

    device = models.ForeignKey(
        Device, on_delete=models.CASCADE, null=True, blank=True, related_name="sessions"
    )
    sign_in = models.ForeignKey(
        LoginCheck, on_delete=models.SET_NULL, null=True, blank=True, related_name="sessions"
    )
    session_key = models.CharField(_("session key"), max_length=64, unique=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"), db_index=True)

    class Meta:
        verbose_name = _("device session")
        verbose_name_plural = _("device sessions")

    def __str__(self) -> str:
        return f"{self.device} ({self.created_at:%Y-%m-%d %H:%M})"


class UsedIdentification(models.Model):
    """A digest of every identification token completed here, so none is accepted twice.

    Rupt's documentation does not say its tokens are single-use; a captured token must
    not be replayable with a phished password, whatever the provider does.
    """

    token_digest = models.CharField(_("token digest"), max_length=64, unique=True)
    used_at = models.DateTimeField(_("used"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("used identification")
        verbose_name_plural = _("used identifications")

    def __str__(self) -> str:
        return self.token_digest[:12]


class TrustEvent(models.Model):
    """Who changed a device's trust or a user's second factors, when, and why.

    Staff give a reason for every action (the admin and the reset command ask for one);
    users acting on their own account are recorded with an empty reason. Kept when the
    device or the acting account is deleted: ``actor_name`` and ``device_label`` say who
    and what it was.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="rupt_guard_trust_events",
        verbose_name=_("account"),
    )
    action = models.CharField(_("action"), max_length=30, choices=TrustAction.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("done by"),
    )
    actor_name = models.CharField(_("done by (name)"), max_length=150, blank=True)
    device = models.ForeignKey(
        Device, on_delete=models.SET_NULL, null=True, blank=True, related_name="trust_events"
    )
    device_label = models.CharField(_("device or factor"), max_length=150, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    created_at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        verbose_name = _("trust event")
        verbose_name_plural = _("trust events")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="rupt_guard_event_user_time"),
            models.Index(fields=["created_at"], name="rupt_guard_event_time"),
            models.Index(fields=["action", "-created_at"], name="rupt_guard_event_action"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} ({self.created_at:%Y-%m-%d %H:%M})"


class PendingErasure(models.Model):
    """An account's entries still to be removed from the provider's metadata of one device.

    Queued when a user is deleted or erased (the deletion never waits for the provider);
    ``rupt_guard_sync`` retries until the provider accepts, then the row is deleted.
    """

    external_id = models.CharField(_("device id"), max_length=128)
    account_id = models.CharField(_("account id"), max_length=256)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.CharField(_("last error"), max_length=40, blank=True)
    created_at = models.DateTimeField(_("queued"), default=timezone.now)

    class Meta:
        verbose_name = _("pending erasure")
        verbose_name_plural = _("pending erasures")
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["external_id", "account_id"], name="rupt_guard_erasure_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} @ {self.external_id}"


# -- the dashboard's hourly rollup (rupt_guard.stats.rollup) --------------------------------
# Counts only: no user, address or device, so a rollup may outlive the checks it counts
# (the prune deletes checks; rollups are deleted after stats.rollup.KEEP_DAYS).


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
