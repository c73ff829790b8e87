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
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from rupt_guard.models import Device
from rupt_guard.trust import devices
from rupt_guard.trust.recovery import reset_factors


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("Why?"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=1000,
        help_text=_("Kept in the audit trail with your name (a ticket number, what was checked)."),
    )


class ResetForm(ReasonForm):
    forget_devices = forms.BooleanField(
        label=_("Also forget every device's verification and end its sessions"),
        required=False,
        help_text=_("When the lost factors may be in someone else's hands."),
    )


def ask_reason(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
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
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "form": form,
        "queryset": queryset,
        "opts": modeladmin.model._meta,
        "action": request.POST.get("action", ""),
        "action_checkbox_name": ACTION_CHECKBOX_NAME,
        "select_across": request.POST.get("select_across", "0"),
    }
    return TemplateResponse(request, "rupt_guard/admin/action_reason.html", context)


def _report(modeladmin: admin.ModelAdmin, request: HttpRequest, count: int, message: str) -> None:
    level = messages.SUCCESS if count else messages.WARNING
    modeladmin.message_user(request, message % {"count": count}, level)


def _each(
    queryset: QuerySet, act: Callable[[Device], None], keep: Callable[[Device], bool] = bool
) -> int:
    count = 0
    for device in queryset.select_related("user"):
        if keep(device):
            act(device)
            count += 1
    return count


@admin.action(description=_("Mark the selected devices verified"), permissions=["change"])
def mark_verified(modeladmin: Any, request: HttpRequest, queryset: QuerySet) -> Any:
    def act(rows: QuerySet, data: dict[str, Any]) -> int:
        count = _each(
            rows,
            lambda d: devices.verify_by_staff(
                d, by=request.user, request=request, reason=data["reason"]
            ),
        )
        _report(
            modeladmin,
            request,
            count,
            ngettext(
                "%(count)d device was marked verified.",
                "%(count)d devices were marked verified.",
                count,
            ),
        )
        return count

    return ask_reason(modeladmin, request, queryset, title=_("Mark devices verified"), act=act)


@admin.action(
    description=_("Revoke the verification of the selected devices"), permissions=["change"]
)
def revoke_verification(modeladmin: Any, request: HttpRequest, queryset: QuerySet) -> Any:
    def act(rows: QuerySet, data: dict[str, Any]) -> int:
        count = _each(
            rows,
            lambda d: devices.revoke(d, by=request.user, request=request, reason=data["reason"]),
        )
        _report(
            modeladmin,
            request,
            count,
            ngettext(
                "%(count)d device lost its verification; its sessions were ended.",
                "%(count)d devices lost their verification; their sessions were ended.",
                count,
            ),
        )
        return count

    return ask_reason(modeladmin, request, queryset, title=_("Revoke verification"), act=act)


@admin.action(description=_("Block the selected devices"), permissions=["change"])
def block(modeladmin: Any, request: HttpRequest, queryset: QuerySet) -> Any:
    def act(rows: QuerySet, data: dict[str, Any]) -> int:
        # An already blocked device keeps the time it was first blocked.
        count = _each(
            rows,
            lambda d: devices.block(d, by=request.user, request=request, reason=data["reason"]),
            keep=lambda d: d.blocked_at is None,
        )
        _report(
            modeladmin,
            request,
            count,
            ngettext(
                "%(count)d device was blocked; its sessions were ended.",
                "%(count)d devices were blocked; their sessions were ended.",
                count,
            ),
        )
        return count

    return ask_reason(modeladmin, request, queryset, title=_("Block devices"), act=act)


@admin.action(description=_("Unblock the selected devices"), permissions=["change"])
def unblock(modeladmin: Any, request: HttpRequest, queryset: QuerySet) -> Any:
    def act(rows: QuerySet, data: dict[str, Any]) -> int:
        count = _each(
            rows,
            lambda d: devices.unblock(d, by=request.user, reason=data["reason"]),
            keep=lambda d: d.blocked_at is not None,
        )
        _report(
            modeladmin,
            request,
            count,
            ngettext("%(count)d device was unblocked.", "%(count)d devices were unblocked.", count),
        )
        return count

    return ask_reason(modeladmin, request, queryset, title=_("Unblock devices"), act=act)


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
def reset_owners_factors(modeladmin: Any, request: HttpRequest, queryset: QuerySet) -> Any:
    def act(rows: QuerySet, data: dict[str, Any]) -> int:
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
def reset_users_factors(modeladmin: Any, request: HttpRequest, queryset: QuerySet) -> Any:
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
