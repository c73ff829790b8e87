"""Passkeys as a second factor, through django-otp-webauthn (the ``passkeys`` extra).

django-otp-webauthn's own views sign in whoever owns a credential (passwordless login) or
refuse an anonymous request, and a pending sign-in is anonymous. ``rupt_guard.passkeys.views``
wraps its ceremonies so that rupt_guard decides who may use them: the pending user in the
challenge (which then passes through the sign-in lifecycle, like a code), the signed-in user
in a step-up, and enrolment only after a step-up. The URLs are ``rupt_guard:passkey_*``,
included by ``rupt_guard.urls`` when ``django_otp_webauthn`` is installed.
"""
