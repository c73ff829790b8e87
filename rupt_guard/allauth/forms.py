"""The identify script on django-allauth's own login form, without copying its template.

``ACCOUNT_FORMS = {"login": "rupt_guard.allauth.forms.LoginForm"}`` (or
:class:`IdentifyFormMixin` on a site's own login form): the form gains the hidden token
field, whose widget renders what ``{% rupt_guard_identify %}`` renders (the field, its
``_error`` twin and the script). allauth's stock templates print every field of the form,
so the script reaches the page with no template of ours.
"""

from __future__ import annotations

from typing import Any

from allauth.account.forms import LoginForm as AllauthLoginForm
from django import forms
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from rupt_guard.conf import guard_settings
from rupt_guard.gate.consent import consent_given
from rupt_guard.templatetags.rupt_guard import IDENTIFY_TEMPLATE, identify_context


class IdentifyWidget(forms.HiddenInput):
    """The identify tag as a widget: the browser fills the token, never the user."""

    def __init__(self, request: Any = None) -> None:
        super().__init__()
        self.request = request

    def render(self, name: str, value: Any, attrs: Any = None, renderer: Any = None) -> SafeString:
        # CONSENT said no: no script and no field, exactly like the tag.
        if not consent_given(self.request):
            return SafeString("")
        context = identify_context({"request": self.request}, "")  # type: ignore[arg-type]
        return mark_safe(render_to_string(IDENTIFY_TEMPLATE, context, request=self.request))  # noqa: S308


class IdentifyFormMixin(forms.Form):
    """Adds the token field (``TOKEN_FIELD``) to a form built with ``request=``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        request = getattr(self, "request", None)
        self.fields[guard_settings.TOKEN_FIELD] = forms.CharField(
            required=False, widget=IdentifyWidget(request)
        )


class LoginForm(IdentifyFormMixin, AllauthLoginForm):
    """django-allauth's login form with the identify script."""
