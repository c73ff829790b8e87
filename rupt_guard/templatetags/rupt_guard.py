"""``{% rupt_guard_identify %}``: the hidden token field and the script that fills it (nothing
when ``CONSENT`` says no); and ``{% rupt_guard_home_url %}``, the way back to the site from
rupt_guard's pages."""

from __future__ import annotations

import logging

from django import template
from django.shortcuts import resolve_url
from django.template import Engine
from django.urls import NoReverseMatch

from rupt_guard.conf import guard_settings
from rupt_guard.gate.check import ERROR_FIELD_SUFFIX
from rupt_guard.gate.consent import consent_given
from rupt_guard.gate.sign_in import notice_for
from rupt_guard.providers import get_provider

register = template.Library()
logger = logging.getLogger(__name__)


IDENTIFY_TEMPLATE = "rupt_guard/identify.html"


@register.simple_tag(takes_context=True)
def rupt_guard_identify(context: template.Context, form: str = "") -> str:
    """Put it inside the login ``<form>``, or anywhere with ``form="<form id>"``.

    Configuration travels in data attributes, so a strict Content-Security-Policy with no
    inline script works; allow the SDK's origin in ``script-src``.

    When ``CONSENT`` refuses this request it renders nothing at all: no script, so the
    SDK is never loaded, and no field, so the form posts no token (the sign-in is then
    checked at ``login()`` and recorded with the reason ``no_consent``).
    """
    if not consent_given(context.get("request")):
        return ""
    # What an inclusion tag does, after the consent question (the template's own engine).
    engine = context.template.engine if context.template is not None else Engine.get_default()
    identify = engine.get_template(IDENTIFY_TEMPLATE)
    return identify.render(context.new(identify_context(context, form)))


def identify_context(context: template.Context, form: str) -> dict[str, object]:
    provider = get_provider()
    field = guard_settings.TOKEN_FIELD
    return {
        "field_name": field,
        # The browser's reason when it has no token (diagnostic only, never decides).
        "error_field_name": f"{field}{ERROR_FIELD_SUFFIX}",
        "sdk_url": provider.sdk_url(),
        "client_id": provider.client_id(),
        # Options of the provider's identify() (Rupt: domain, tolerance) and the SDK's
        # Subresource Integrity hash, each only when set.
        "identify_options": provider.browser_options(),
        "timeout_ms": int(guard_settings.IDENTIFY_TIMEOUT_MS),
        "form_id": form,
        # Why the last post of this form was refused, when the form itself cannot say.
        "notice": notice_for(context["request"]) if "request" in context else None,
    }


@register.simple_tag
def rupt_guard_home_url() -> str:
    """Where "Back to the site" on rupt_guard's pages leads (``HOME_URL``; "" for none)."""
    home = guard_settings.HOME_URL
    if not home:
        return ""
    try:
        url = str(resolve_url(home))
    except NoReverseMatch:
        # A page the user must get through (the challenge) never fails for a link.
        logger.warning("RUPT_GUARD['HOME_URL'] %r is neither a URL name nor a path", home)
        return ""
    return "" if url.strip().lower().startswith(("javascript:", "data:", "vbscript:")) else url
