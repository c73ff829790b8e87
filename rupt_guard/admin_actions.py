"""Admin actions on trust, each asking the staff member why before it acts.

Like Django's own "delete selected", an action shows an intermediate page first; the
reason typed there goes into the ``TrustEvent`` of every row it changes. The work itself
is in ``trust.devices`` and ``trust.recovery``, the same functions every other path uses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext, ngettext_lazy

from rupt_guard.models import Device
from rupt_guard.trust import devices
from rupt_guard.trust.personal_data import export_for
from rupt_guard.trust.recovery import reset_factors

# The reason page counts the selection up to this many rows ("more than 10,000 rows"),
# and names the first few.
REASON_PAGE_COUNT_LIMIT = 10_000
REASON_PAGE_ROWS = 20


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("Why?"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=1000,
        help_text=_("Kept in the audit trail with your name (a ticket number, what was checked)."),
    )


class ResetForm(ReasonForm):
    reason = forms.CharField(
        label=_("Why?"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=1000,
        help_text=_(
            "Kept in the audit trail with your name, and quoted in the email to the "
            "account's owner."
        ),
    )
    forget_devices = forms.BooleanField(
        label=_("Also forget every device's verification and end its sessions"),
        required=False,
        help_text=_("When the lost factors may be in someone else's hands."),
    )


def ask_reason(
    modeladmin: admin.ModelAdmin[Any],
    request: HttpRequest,
    queryset: QuerySet[Any],
    *,
    title: Any,
    act: Callable[[Any, dict[str, Any]], int],
    form_class: type[ReasonForm] = ReasonForm,
) -> HttpResponse | None:
    """Show the reason page; once it is posted with a reason, run ``act(queryset, data)``
    (which returns how many rows it changed) and return None (back to the list)."""
    form = form_class(request.POST if "apply" in request.POST else None)
    if "apply" in request.POST and form.is_valid():
        act(queryset, form.cleaned_data)
        return None
    select_across = request.POST.get("select_across", "0")
    # "Select all" over a filter of a million rows: count up to a bound, and send the
    # selection back as select_across (the list's filters are in the URL) with a few
    # rows (Django's admin needs at least one), not as a hidden field per row.
    counted = queryset[: REASON_PAGE_COUNT_LIMIT + 1].count()
    posted_back = queryset if select_across == "0" else queryset[:REASON_PAGE_ROWS]
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "form": form,
        "queryset": queryset,
        "count": min(counted, REASON_PAGE_COUNT_LIMIT),
        "count_is_more": counted > REASON_PAGE_COUNT_LIMIT,
        "posted_back": posted_back,
        "opts": modeladmin.model._meta,
        "action": request.POST.get("action", ""),
        "action_checkbox_name": ACTION_CHECKBOX_NAME,
        "select_across": select_across,
    }
    return TemplateResponse(request, "rupt_guard/admin/action_reason.html", context)


def _report(
    modeladmin: admin.ModelAdmin[Any], request: HttpRequest, count: int, message: str
) -> None:
    level = messages.SUCCESS if count else messages.WARNING
    modeladmin.message_user(request, message % {"count": count}, level)


def _each(
    queryset: QuerySet[Any], act: Callable[[Device], None], keep: Callable[[Device], bool] = bool
) -> int:
    count = 0
    for device in queryset.select_related("user"):
        if keep(device):
            act(device)
            count += 1
    return count


def device_action(
    name: str,
    *,
    description: Any,
    title: Any,
    act: Callable[[Device, HttpRequest, str], None],
    message: Any,  # ngettext_lazy(singular, plural, "count")
    keep: Callable[[Device], bool] = bool,
) -> Callable[..., Any]:
    """An admin action that asks why, then runs ``act(device, request, reason)`` on each
    selected device ``keep`` accepts, and says how many it changed."""

    def action(modeladmin: Any, request: HttpRequest, queryset: QuerySet[Any]) -> Any:
        def apply(rows: QuerySet[Any], data: dict[str, Any]) -> int:
            count = _each(rows, lambda device: act(device, request, data["reason"]), keep)
            _report(modeladmin, request, count, message)
            return count

        return ask_reason(modeladmin, request, queryset, title=title, act=apply)

    action.__name__ = name
    return admin.action(description=description, permissions=["change"])(action)


mark_verified = device_action(
    "mark_verified",
    description=_("Mark the selected devices verified"),
    title=_("Mark devices verified"),
    act=lambda d, request, reason: devices.verify_by_staff(
        d, by=request.user, request=request, reason=reason
    ),
    message=ngettext_lazy(
        "%(count)d device was marked verified.",
        "%(count)d devices were marked verified.",
        "count",
    ),
)
revoke_verification = device_action(
    "revoke_verification",
    description=_("Revoke the verification of the selected devices"),
    title=_("Revoke verification"),
    act=lambda d, request, reason: devices.revoke(
        d, by=request.user, request=request, reason=reason
    ),
    message=ngettext_lazy(
        "%(count)d device lost its verification; its sessions were ended.",
        "%(count)d devices lost their verification; their sessions were ended.",
        "count",
    ),
)
block = device_action(
    "block",
    description=_("Block the selected devices"),
    title=_("Block devices"),
    act=lambda d, request, reason: devices.block(
        d, by=request.user, request=request, reason=reason
    ),
    message=ngettext_lazy(
        "%(count)d device was blocked; its sessions were ended.",
        "%(count)d devices were blocked; their sessions were ended.",
        "count",
    ),
    keep=lambda d: d.blocked_at is None,  # an already blocked one keeps its first time
)
unblock = device_action(
    "unblock",
    description=_("Unblock the selected devices"),
    title=_("Unblock devices"),
    act=lambda d, request, reason: devices.unblock(d, by=request.user, reason=reason),
    message=ngettext_lazy(
        "%(count)d device was unblocked.",
        "%(count)d devices were unblocked.",
        "count",
    ),
    keep=lambda d: d.blocked_at is not None,
)


def _reset_users(
    modeladmin: Any, request: HttpRequest, users: list[Any], data: dict[str, Any]
) -> int:
    for user in users:
        reset_factors(
            user,
            by=request.user,
            reason=data["reason"],
            forget_devices=data.get("forget_devices", False),
            request=request,
        )
    _report(
        modeladmin,
        request,
        len(users),
        ngettext(
            "The second factors of %(count)d account were reset; its owner was emailed.",
            "The second factors of %(count)d accounts were reset; their owners were emailed.",
            len(users),
        ),
    )
    return len(users)


@admin.action(
    description=_("Reset the second factors of the selected devices' owners"),
    permissions=["change"],
)
def reset_owners_factors(modeladmin: Any, request: HttpRequest, queryset: QuerySet[Any]) -> Any:
    def act(rows: QuerySet[Any], data: dict[str, Any]) -> int:
        owners = {device.user_id: device.user for device in rows.select_related("user")}
        return _reset_users(modeladmin, request, list(owners.values()), data)

    return ask_reason(
        modeladmin,
        request,
        queryset,
        title=_("Reset second factors"),
        act=act,
        form_class=ResetForm,
    )


@admin.action(description=_("Reset the second factors of the selected users"))
def reset_users_factors(modeladmin: Any, request: HttpRequest, queryset: QuerySet[Any]) -> Any:
    """For the site's user admin (added to it when it is registered, see ``admin``)."""
    if not request.user.has_perm("rupt_guard.change_device"):
        modeladmin.message_user(request, _("You may not reset second factors."), messages.ERROR)
        return None
    return ask_reason(
        modeladmin,
        request,
        queryset,
        title=_("Reset second factors"),
        act=lambda rows, data: _reset_users(modeladmin, request, list(rows), data),
        form_class=ResetForm,
    )


@admin.action(description=_("Export the rupt_guard data of the selected users (JSON)"))
def export_users_data(modeladmin: Any, request: HttpRequest, queryset: QuerySet[Any]) -> Any:
    """For the site's user admin: a JSON download of what rupt_guard keeps about each
    selected user (their devices, addresses and sign-in history: staff who may change
    devices only)."""
    if not request.user.has_perm("rupt_guard.change_device"):
        modeladmin.message_user(request, _("You may not export this data."), messages.ERROR)
        return None
    body = {"users": [export_for(user) for user in queryset.order_by("pk")]}
    response = JsonResponse(body, json_dumps_params={"indent": 2})
    response["Content-Disposition"] = 'attachment; filename="rupt-guard-users-data.json"'
    response["Cache-Control"] = "no-store"
    return response
