"""The signed-in user's own devices: see them (paged, this one first), rename, sign out and
forget, block and unblock them, and sign out everywhere else."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.db import router, transaction
from django.db.models import Exists, OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render, resolve_url
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.timesince import timesince
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.decorators.cache import never_cache

from rupt_guard.choices import Decision, TrustAction
from rupt_guard.conf import guard_settings
from rupt_guard.gate.lifecycle import step_up
from rupt_guard.gate.mark import read_mark
from rupt_guard.gate.middleware import challenge_url
from rupt_guard.models import Device, DeviceSession, TrustEvent
from rupt_guard.trust import devices as device_actions
from rupt_guard.trust.user_agents import parse
from rupt_guard.views.challenge import safe_next

# Small enough to read at 390 px, large enough that a person with a few devices never pages.
DEVICES_PER_PAGE = 20


def trusted_session_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Only a session that passed the gate; one without a mark must pass a challenge first."""

    @wraps(view)
    def wrapper(self: View, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if read_mark(request.session) is None:
            # Signed in before rupt_guard was installed (or by a path we never saw): ask
            # for a second factor first, through a POST so no cross-site GET can start it.
            query = urlencode({"next": request.get_full_path()})
            return HttpResponseRedirect(f"{reverse('rupt_guard:step_up')}?{query}")
        return view(self, request, *args, **kwargs)

    return wrapper


class RenameForm(forms.ModelForm):  # type: ignore[type-arg]  # not subscriptable at run time
    class Meta:
        model = Device
        fields = ["label"]
        labels = {"label": gettext_lazy("Name")}


def current_device_pk(request: HttpRequest) -> int | None:
    mark = read_mark(request.session)
    return mark.device if mark is not None else None


def user_devices(user: Any) -> QuerySet[Device]:
    """The user's devices with what the page needs to choose each one's actions, in the
    same query: whether a live session came from it (is "sign out" worth offering?) and
    who blocked it last (staff's block is not the user's to lift). Both are lookups on an
    indexed foreign key, for the twenty rows of a page."""
    live_session = DeviceSession.objects.filter(
        device=OuterRef("pk"), expires_at__gt=timezone.now()
    )
    last_block = TrustEvent.objects.filter(
        device=OuterRef("pk"), action=TrustAction.DEVICE_BLOCKED
    ).order_by("-created_at", "-pk")
    return Device.objects.filter(user=user).annotate(
        has_sessions=Exists(live_session),
        blocked_by_id=Subquery(last_block.values("actor_id")[:1]),
        blocked_by_name=Subquery(last_block.values("actor_name")[:1]),
    )


def blocked_by_someone_else(device: Device, user: Any) -> bool:
    """Blocked by another account (the site's staff): the user may not lift it. A block
    by the user, or by their "this wasn't me" link (no actor), is theirs to undo."""
    if device.blocked_at is None:
        return False
    blocked_by = getattr(device, "blocked_by_id", None)
    if blocked_by is None:
        # Its actor's account was deleted since (the name stays): still not the user's.
        return bool(getattr(device, "blocked_by_name", ""))
    return bool(blocked_by != user.pk)


def unverified_are_challenged() -> bool:
    return bool(guard_settings.ON_UNVERIFIED_DEVICE == Decision.CHALLENGE)


def last_seen(when: datetime, now: datetime) -> str:
    if now - when < timedelta(minutes=1):
        return _("just now")
    # depth=1: "3 days ago" is what a person scanning a list needs; the exact time is in
    # the row's tooltip.
    return _("%(time)s ago") % {"time": timesince(when, now, depth=1)}


@dataclass(frozen=True)
class DeviceRow:
    """One device as the page shows it, with the actions that make sense in its state."""

    device: Device
    is_current: bool
    name: str
    # What its latest user agent says, with the browser's version: shown under a name the
    # user chose, and what tells two devices of the same kind apart.
    agent: str
    place: str
    last_seen: str
    can_forget: bool
    can_block: bool
    can_unblock: bool
    blocked_by_staff: bool
    rename_form: RenameForm

    @classmethod
    def build(cls, device: Device, *, user: Any, is_current: bool, now: datetime) -> DeviceRow:
        agent = parse(device.last_user_agent)
        described = agent.description
        renamed = bool(device.label) and device.label != agent.label
        place_for_ip = guard_settings.PLACE_FOR_IP
        blocked = device.blocked_at is not None
        staff_block = blocked_by_someone_else(device, user)
        return cls(
            device=device,
            is_current=is_current,
            name=device.label if renamed or not described else described,
            agent=described if renamed else "",
            place=(place_for_ip(device.last_ip) or "") if place_for_ip and device.last_ip else "",
            last_seen=last_seen(device.last_seen_at, now),
            # Signing out a device that is neither trusted nor signed in would do nothing.
            can_forget=not blocked
            and (is_current or device.verified_at is not None or device.has_sessions),  # type: ignore[attr-defined]  # annotated by the page's query
            can_block=not blocked,
            can_unblock=blocked and not staff_block,
            blocked_by_staff=staff_block,
            rename_form=RenameForm(instance=device, prefix=f"d{device.pk}"),
        )


def page_number(request: HttpRequest) -> str:
    """The list page a form came from, so the person lands back where they were."""
    number = request.POST.get("page") or request.GET.get("page") or ""
    return number if number.isdigit() and number != "1" else ""


def devices_url(request: HttpRequest) -> str:
    number = page_number(request)
    base = reverse("rupt_guard:devices")
    return f"{base}?{urlencode({'page': number})}" if number else base


@method_decorator(never_cache, name="dispatch")
class DeviceListView(View):
    template_name = "rupt_guard/devices.html"
    paginate_by = DEVICES_PER_PAGE

    @trusted_session_required
    def get(self, request: HttpRequest) -> HttpResponse:
        now = timezone.now()
        current_pk = current_device_pk(request)
        others = Device.objects.filter(user=request.user)  # type: ignore[misc]  # signed in: trusted_session_required
        if current_pk is not None:
            others = others.exclude(pk=current_pk)
        # A page is a count and one query on the (user, -last_seen_at) index for its ids
        # (pk breaks ties, so no device shows on two pages or on none); the rows and what
        # decides their actions come next, for those twenty ids (and this device) only.
        # Asked in the paging query, the sessions and blocks would be looked up for every
        # row the OFFSET skips too: 10,000 lookups for the last page of 10,000 devices.
        paginator = Paginator(
            others.order_by("-last_seen_at", "-pk").values_list("pk", flat=True),
            self.paginate_by,
        )
        page = paginator.get_page(request.GET.get("page"))
        ids = list(page.object_list)
        wanted = [*ids, current_pk] if current_pk is not None else ids
        rows_by_pk = user_devices(request.user).filter(pk__in=wanted).order_by()
        found = {device.pk: device for device in rows_by_pk}
        current = found.get(current_pk) if current_pk is not None else None
        rows = [
            DeviceRow.build(found[pk], user=request.user, is_current=False, now=now)
            for pk in ids
            if pk in found  # forgotten by another request in between
        ]
        context = {
            # This device leads the first page; the others follow, most recent first.
            "current": (
                DeviceRow.build(current, user=request.user, is_current=True, now=now)
                if current is not None and page.number == 1
                else None
            ),
            "has_current": current is not None,
            "rows": rows,
            "page_obj": page,
            # The page each form brings the person back to ("" for the first).
            "page": str(page.number) if page.number > 1 else "",
        }
        return render(request, self.template_name, context)


class DeviceRenameView(View):
    @trusted_session_required
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        device = get_object_or_404(Device, pk=pk, user=request.user)
        form = RenameForm(request.POST, instance=device, prefix=f"d{device.pk}")
        if form.is_valid():
            form.save()
            messages.success(request, _("Device renamed."), fail_silently=True)
        else:
            messages.error(request, _("That name is too long."), fail_silently=True)
        return HttpResponseRedirect(devices_url(request))


class DeviceActionView(View):
    """Ask first (GET), then act (POST with CSRF): a link in a page or an email must never
    change trust by itself."""

    template_name = ""

    def get_device(self, request: HttpRequest, pk: int) -> tuple[Device, bool]:
        device = get_object_or_404(user_devices(request.user), pk=pk)
        return device, current_device_pk(request) == device.pk

    def confirm(self, request: HttpRequest, device: Device, is_current: bool) -> HttpResponse:
        context = {
            "device": device,
            "is_current": is_current,
            "row": DeviceRow.build(
                device, user=request.user, is_current=is_current, now=timezone.now()
            ),
            # What a blocked device meets at its next sign-in, as the policy is set.
            "blocked_are_refused": guard_settings.ON_BLOCKED_DEVICE == Decision.BLOCK,
            "blocked_are_challenged": guard_settings.ON_BLOCKED_DEVICE == Decision.CHALLENGE,
            "unverified_are_challenged": unverified_are_challenged(),
            "page": page_number(request),
            "back_url": devices_url(request),
        }
        return render(request, self.template_name, context)

    def signed_out(self, request: HttpRequest, message: str) -> HttpResponse:
        # This very session was just ended: sign out cleanly rather than let the response
        # save a session that no longer exists. The message goes to the new session.
        logout(request)
        messages.success(request, message, fail_silently=True)
        return HttpResponseRedirect(resolve_url(settings.LOGIN_URL))


class DeviceRevokeView(DeviceActionView):
    template_name = "rupt_guard/device_revoke.html"

    @trusted_session_required
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self.confirm(request, *self.get_device(request, pk))

    @trusted_session_required
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        device, is_current = self.get_device(request, pk)
        device_actions.revoke(device, by=request.user, request=request)
        if is_current:
            return self.signed_out(request, _("This device was signed out and forgotten."))
        messages.success(request, _("The device was signed out and forgotten."), fail_silently=True)
        return HttpResponseRedirect(devices_url(request))


class DeviceBlockView(DeviceActionView):
    template_name = "rupt_guard/devices/block.html"

    @trusted_session_required
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        device, is_current = self.get_device(request, pk)
        if device.blocked_at is not None:
            return HttpResponseRedirect(devices_url(request))
        return self.confirm(request, device, is_current)

    @trusted_session_required
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        device, is_current = self.get_device(request, pk)
        if device.blocked_at is None:
            # block() ends the device's sessions, this one too when it is this device.
            device_actions.block(device, by=request.user, request=request)
        if is_current:
            return self.signed_out(request, _("This device was blocked and signed out."))
        messages.success(request, _("The device was blocked and signed out."), fail_silently=True)
        return HttpResponseRedirect(devices_url(request))


class DeviceUnblockView(DeviceActionView):
    template_name = "rupt_guard/devices/unblock.html"

    @trusted_session_required
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        device, _is_current = self.get_device(request, pk)
        if device.blocked_at is None or blocked_by_someone_else(device, request.user):
            return HttpResponseRedirect(devices_url(request))
        return self.confirm(request, device, is_current=False)

    @trusted_session_required
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        device, _is_current = self.get_device(request, pk)
        if blocked_by_someone_else(device, request.user):
            message = _("Only the site's staff can unblock that device.")
            messages.error(request, message, fail_silently=True)
        elif device.blocked_at is not None:
            with transaction.atomic(using=router.db_for_write(Device)):
                device_actions.unblock(device, by=request.user)
                if device.verified_at is not None:
                    # Unblocked, not trusted: whoever had it when it was blocked (a thief
                    # the "this wasn't me" link stopped, say) must pass a second factor.
                    device_actions.revoke(device, by=request.user, request=request)
            message = _("The device was unblocked.")
            if unverified_are_challenged():
                message = _(
                    "The device was unblocked. Its next sign-in must pass your second factor."
                )
            messages.success(request, message, fail_silently=True)
        return HttpResponseRedirect(devices_url(request))


class SignOutOthersView(View):
    """ "Sign out everywhere else": every other session of the account ends, this one
    goes on. Trust is unchanged (forget or block a device for that)."""

    @trusted_session_required
    def post(self, request: HttpRequest) -> HttpResponse:
        mark = read_mark(request.session)
        # The mark's tracked key is this session's row while a rotated key is being
        # followed (gate.tracking): ending it would end this session at its next request.
        keep = [request.session.session_key, mark.tracked_key if mark is not None else None]
        device_actions.end_other_sessions(request.user, keep=keep)
        messages.success(
            request,
            _("You were signed out everywhere else. This session goes on."),
            fail_silently=True,
        )
        return HttpResponseRedirect(devices_url(request))


class StepUpView(View):
    """A session with no rupt_guard mark asks to confirm itself with a second factor."""

    template_name = "rupt_guard/step_up.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return render(request, self.template_name, {"next": safe_next(request)})

    def post(self, request: HttpRequest) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if read_mark(request.session) is None:
            step_up(request)
        return HttpResponseRedirect(challenge_url(safe_next(request)))
