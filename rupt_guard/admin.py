"""The Django admin for devices and the login-check audit trail.

Every change to a device's trust goes through :mod:`rupt_guard.trust.devices`, so that an admin
action ends sessions, fires signals and tells the provider exactly like any other path.
``DeviceSession`` is deliberately not registered: its rows hold live session keys (a
bearer credential) and only :func:`rupt_guard.trust.devices.end_sessions` should touch them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from rupt_guard import admin_actions
from rupt_guard.admin_paging import BoundedChangeList, BoundedPaginator
from rupt_guard.admin_search import (
    EXACT,
    PREFIX,
    SUBSTRING,
    SUBSTRING_MIN_LENGTH,
    default_user_fields,
    email_field_name,
    matching_user_ids,
    text_match,
    user_match,
)
from rupt_guard.models import Device, LoginCheck, TrustEvent
from rupt_guard.providers import breaker
from rupt_guard.stats import admin as dashboard  # noqa: F401  (registers the dashboard)
from rupt_guard.trust import devices, retention
from rupt_guard.trust.audit import missing_tokens

# How many rows an inline shows: the newest ones. A device can have years of checks.
INLINE_ROWS = 50


# Kept for sites that named it: the paginator is now bounded for filtered lists too.
EstimatedCountPaginator = BoundedPaginator


class BoundedListAdmin(admin.ModelAdmin):  # type: ignore[type-arg]  # not subscriptable at run time
    """A change list built for millions of rows: a bounded count and page range
    (:class:`~rupt_guard.admin_paging.BoundedPaginator`), a page found by its keys first
    (:class:`~rupt_guard.admin_paging.BoundedChangeList`), no second count of the whole
    table, and no facet counts (one COUNT per filter choice). Subclasses keep
    ``sortable_by`` to the columns an index orders."""

    paginator = BoundedPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type:
        return BoundedChangeList

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> Any:
        response = super().changelist_view(request, extra_context=extra_context)
        context = getattr(response, "context_data", None) or {}
        paginator = getattr(context.get("cl"), "paginator", None)
        bounded = isinstance(paginator, BoundedPaginator) and paginator.is_bounded
        if bounded and paginator is not None and "selection_note_all" in context:
            # Django writes "All 10001 selected" from the count: say what it is.
            context["selection_note_all"] = gettext("All %(name)s selected (%(count)s)") % {
                "name": self.model._meta.verbose_name_plural,
                "count": paginator.describe_count(),
            }
        return response


class NewestRowsFormSet(BaseInlineFormSet):  # type: ignore[type-arg]  # not subscriptable at run time
    """An inline formset showing only the first ``INLINE_ROWS`` rows of its ordered queryset.

    Django's inlines show every related row; a device with years of login checks would
    make its change page unbounded. Slicing here (after the formset has filtered by the
    parent object) keeps both the rows and the queries bounded.
    """

    def get_queryset(self) -> QuerySet[Any]:
        if not hasattr(self, "_newest_rows"):
            self._newest_rows = super().get_queryset()[:INLINE_ROWS]
        return self._newest_rows


def _when(value: Any) -> str:
    # django-stubs 5.2 lacks timezone.template_localtime (Django has it since 1.11).
    return formats.localize(timezone.template_localtime(value))  # type: ignore[attr-defined]


class DeviceColumns:
    """Columns shared by the device list and the user page's device inline."""

    @admin.display(description=_("device id"), ordering="external_id")
    def short_device_id(self, device: Device) -> str:
        full = device.external_id
        return format_html('<span title="{}">{}</span>', full, Truncator(full).chars(16))

    @admin.display(description=_("verified"), ordering="verified_at")
    def verified(self, device: Device) -> str | None:
        if device.verified_at is None:
            return None  # shown as the admin's empty value
        method = device.get_verification_method_display()
        if not method:
            return _when(device.verified_at)
        return format_html("{} ({})", _when(device.verified_at), method)

    @admin.display(description=_("blocked"), boolean=True, ordering="blocked_at")
    def blocked(self, device: Device) -> bool:
        return device.is_blocked


class _PresenceFilter(admin.SimpleListFilter):
    """Yes / no on whether a nullable timestamp is set."""

    field = ""

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("Yes")), ("no", _("No"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(**{f"{self.field}__isnull": False})
        if self.value() == "no":
            return queryset.filter(**{f"{self.field}__isnull": True})
        return queryset


class VerifiedFilter(_PresenceFilter):
    title = _("verified")
    parameter_name = "verified"
    field = "verified_at"


class BlockedFilter(_PresenceFilter):
    title = _("blocked")
    parameter_name = "blocked"
    field = "blocked_at"


class SeenRecentlyFilter(admin.SimpleListFilter):
    title = _("seen recently")
    parameter_name = "seen"
    periods = {
        "24h": (timedelta(hours=24), _("Last 24 hours")),
        "7d": (timedelta(days=7), _("Last 7 days")),
        "30d": (timedelta(days=30), _("Last 30 days")),
    }

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [(key, label) for key, (_period, label) in self.periods.items()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        period = self.periods.get(self.value() or "")
        if period is None:
            return queryset
        return queryset.filter(last_seen_at__gte=timezone.now() - period[0])


class LoginCheckInline(admin.TabularInline):  # type: ignore[type-arg]  # not subscriptable at run time
    """The newest login checks of one device, read-only, on the device's change page."""

    model = LoginCheck
    fk_name = "device"
    formset = NewestRowsFormSet
    verbose_name_plural = _("latest login checks")
    fields = (
        "created_at",
        "decision",
        "reason",
        "source",
        "new_device",
        "provider_error",
        "ip",
        "reported_at",
    )
    readonly_fields = fields
    ordering = ("-created_at",)
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class DeviceInline(DeviceColumns, admin.TabularInline):  # type: ignore[type-arg]  # not subscriptable at run time
    """A user's devices (the newest 50), read-only, for a site's user admin. Opt in with::

    UserAdmin.inlines = [*UserAdmin.inlines, DeviceInline]
    """

    model = Device
    fk_name = "user"
    formset = NewestRowsFormSet
    fields = ("short_device_id", "label", "last_seen_at", "last_ip", "verified", "blocked")
    readonly_fields = fields
    ordering = ("-last_seen_at",)
    extra = 0
    can_delete = False  # a delete here would bypass DeviceAdmin's ending of sessions
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Device)
class DeviceAdmin(DeviceColumns, BoundedListAdmin):
    """Devices, searched and filtered through indexes only, on millions of rows.

    The search matches the beginning of the owner's username (and email address, when the
    user model indexes it) and of the device id; set ``substring_search`` for matches
    anywhere in them, on PostgreSQL with the trigram indexes of docs/operations.md.
    """

    list_display = (
        "user",
        "label",
        "short_device_id",
        "first_seen_at",
        "last_seen_at",
        "last_ip",
        "verified",
        "blocked",
    )
    list_filter = (VerifiedFilter, BlockedFilter, SeenRecentlyFilter)
    list_select_related = ("user",)
    # No date_hierarchy: its drill-down asks for the distinct dates of every row. "Seen
    # recently" is its bounded replacement. Sorting only by what an index orders.
    ordering = ("-last_seen_at",)  # indexed (rupt_guard_dev_seen and each filter's)
    sortable_by = ("last_seen_at",)
    # Match anywhere in usernames, addresses and device ids (icontains): a scan, unless
    # PostgreSQL has the trigram indexes docs/operations.md gives.
    substring_search = False
    # The user model's fields the search matches; None: the username field, and the
    # email field when the model indexes it.
    user_search_fields: Sequence[str] | None = None
    # A short prefix can match thousands of accounts: their devices are looked up by at
    # most this many user ids (the staff member is told to type more).
    user_match_limit = 100
    actions = (
        admin_actions.mark_verified,
        admin_actions.revoke_verification,
        admin_actions.block,
        admin_actions.unblock,
        admin_actions.reset_owners_factors,
    )
    fieldsets = (
        (None, {"fields": ("user", "external_id", "label")}),
        (
            _("Activity"),
            {"fields": ("first_seen_at", "last_seen_at", "last_ip", "last_user_agent")},
        ),
        (
            _("Trust"),
            {"fields": ("verified_at", "verification_method", "verified_with", "blocked_at")},
        ),
        (_("Provider"), {"fields": ("metadata", "metadata_sync_pending")}),
    )
    # Only the label is edited here. Trust changes go through the actions, which end
    # sessions and tell the provider; an edited verified_at or blocked_at would not.
    readonly_fields = (
        "user",
        "external_id",
        "first_seen_at",
        "last_seen_at",
        "last_ip",
        "last_user_agent",
        "verified_at",
        "verification_method",
        "verified_with",
        "blocked_at",
        "metadata",
        "metadata_sync_pending",
    )
    inlines = (LoginCheckInline,)

    def search_how(self, term: str) -> str:
        """How a term is matched: from its beginning, or anywhere with ``substring_search``
        (a trigram index needs three characters to be of use)."""
        if self.substring_search and len(term) >= SUBSTRING_MIN_LENGTH:
            return SUBSTRING
        return PREFIX

    def get_user_search_fields(self, how: str) -> list[str]:
        if self.user_search_fields is not None:
            return list(self.user_search_fields)
        return default_user_fields(substring=how == SUBSTRING)

    @property
    def search_help_text(self) -> Any:  # type: ignore[override]  # read by Django's ChangeList
        if self.substring_search:
            return _(
                "Finds the devices whose owner's username or email address, or whose "
                "device id, contains what you type (three characters or more)."
            )
        email = email_field_name(get_user_model())
        if email is not None and email in self.get_user_search_fields(PREFIX):
            return _(
                "Finds the devices whose owner's username or email address, or whose "
                "device id, starts with what you type."
            )
        return _(
            "Finds the devices whose owner's username, or whose device id, starts with "
            "what you type. Email addresses are not searched: the user table has no "
            "index for them."
        )

    def get_search_fields(self, request: HttpRequest) -> list[str]:
        # Only shows the search box; get_search_results() does the (indexed) lookups.
        return ["external_id"]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        how = self.search_how(term)
        # The accounts first, on the user table's indexes; then their devices on the
        # (user, last_seen_at) index, or'ed with the device id's own index. One OR across
        # the join would leave the database no index to use for either side.
        user_ids, more = matching_user_ids(
            term, how, self.get_user_search_fields(how), self.user_match_limit
        )
        if more:
            self.message_user(
                request,
                gettext(
                    "More than %(limit)d accounts match “%(term)s”: only the devices of "
                    "%(limit)d of them are listed. Type more of the name."
                )
                % {"limit": self.user_match_limit, "term": term},
                messages.WARNING,
            )
        match = text_match("external_id", term, how)
        if user_ids:
            match |= Q(user_id__in=user_ids)
        return queryset.filter(match), False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # devices come from sign-ins

    def delete_model(self, request: HttpRequest, obj: Device) -> None:
        # Forgetting a device also signs out the sessions it opened, as revoking does.
        devices.end_sessions(obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for device in queryset:
            devices.end_sessions(device)
        super().delete_queryset(request, queryset)


class ReadOnlyTrail(BoundedListAdmin):
    """An audit trail: read-only, fast on millions of rows, searched by exact username."""

    # The time column is indexed; sorting by any other would sort every row.
    sortable_by = ("created_at",)
    # The user model's fields the search matches exactly; None: the username field, and
    # the email field when the model indexes it.
    user_search_fields: Sequence[str] | None = None

    def get_user_search_fields(self) -> list[str]:
        if self.user_search_fields is not None:
            return list(self.user_search_fields)
        return default_user_fields()

    @property
    def search_help_text(self) -> Any:  # type: ignore[override]  # read by Django's ChangeList
        email = email_field_name(get_user_model())
        if email is not None and email in self.get_user_search_fields():
            return _("The exact username or email address of the account.")
        return _("The exact username of the account.")

    def get_search_fields(self, request: HttpRequest) -> list[str]:
        # Only shows the search box; get_search_results() does the (indexed) lookup.
        return [f"user__{get_user_model().USERNAME_FIELD}"]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        # An exact match on the (unique, indexed) username, then the (user, created_at)
        # index: a "contains" search would scan every row ever recorded. A part of a
        # name would match many accounts, whose rows would all be read to sort them.
        term = search_term.strip()
        if not term:
            return queryset, False
        match = user_match(term, EXACT, self.get_user_search_fields())
        if match is None:
            return queryset.none(), False
        users = get_user_model()._default_manager.filter(match)
        return queryset.filter(user__in=users.values("pk")), False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _breaker_status() -> breaker.Status | None:
    try:
        return breaker.status()
    except Exception:  # the shared cache is down: the list still shows
        return None


@admin.register(LoginCheck)
class LoginCheckAdmin(ReadOnlyTrail):
    """The audit trail: read-only, and fast on millions of rows."""

    list_display = (
        "created_at",
        "user",
        "device",
        "decision",
        "reason",
        "provider_error",
        "provider_status",
        "provider_ms",
        "ip",
        "reported_at",
    )
    list_filter = ("decision", "reason", "source", "provider_error")
    list_select_related = ("user", "device")
    ordering = ("-created_at",)  # indexed (rupt_guard_check_time)
    change_list_template = "rupt_guard/admin/logincheck_change_list.html"

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> Any:
        # How often the login form came without a token in the last day, and why, and
        # whether the provider is being called at all: the first things to look at when
        # every sign-in is challenged.
        context = {
            "missing_tokens": missing_tokens(hours=24),
            "retention": retention.in_force(),
            "breaker": _breaker_status(),
            "can_force_breaker": self.can_force_breaker(request),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context=context)

    def get_urls(self) -> list[URLPattern]:
        urls = [
            path(
                "breaker/",
                self.admin_site.admin_view(self.force_breaker_view),
                name="rupt_guard_breaker",
            )
        ]
        return urls + super().get_urls()

    @staticmethod
    def can_force_breaker(request: HttpRequest) -> bool:
        return request.user.has_perm("rupt_guard.change_device")

    def force_breaker_view(self, request: HttpRequest) -> HttpResponse:
        """Force the circuit breaker open or closed, or let it decide again (POST)."""
        if request.method != "POST" or not self.can_force_breaker(request):
            raise PermissionDenied
        choice = request.POST.get("state")
        if choice not in ("open", "closed", "auto"):
            raise PermissionDenied
        breaker.force(None if choice == "auto" else choice)
        self.message_user(request, _("Circuit breaker: %(state)s.") % {"state": choice})
        return HttpResponseRedirect(reverse("admin:rupt_guard_logincheck_changelist"))


@admin.register(TrustEvent)
class TrustEventAdmin(ReadOnlyTrail):
    """Who changed trust, and why: read-only, as an audit trail must be."""

    list_display = ("created_at", "user", "action", "device_label", "actor_name", "reason")
    list_filter = ("action",)
    list_select_related = ("user",)
    ordering = ("-created_at",)  # indexed (rupt_guard_event_time)


def _offer_reset_in_user_admin() -> None:
    """Add "reset second factors" and "export their data" to the site's user admin, where
    staff look for a user."""
    user_admin = admin.site._registry.get(get_user_model())
    if user_admin is None:
        return  # registered later, or not at all: the device list has the action too
    actions = list(user_admin.actions or [])
    for action in (admin_actions.reset_users_factors, admin_actions.export_users_data):
        if action not in actions:
            actions.append(action)
    user_admin.actions = actions


_offer_reset_in_user_admin()
