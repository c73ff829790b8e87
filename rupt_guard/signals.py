"""Signals a site can connect to for its own alerting. Every signal is sent with ``sender``
the class named below and the keyword arguments listed; more may be added later.

- ``device_seen``: a sign-in was identified. ``user``, ``device``, ``created`` (first
  sighting in our database), ``request``.
- ``device_verified``: a device passed its second factor. ``user``, ``device``, ``method``
  (a ``VerificationMethod``), ``request`` (None when staff verified it).
- ``device_revoked``: a device's verification was cleared. ``user``, ``device``, ``by``
  (the acting user or None), ``request``.
- ``device_blocked``: a device was blocked. ``user``, ``device``, ``by``, ``request``.
- ``code_send_failed``: a code could not be sent (the mail server refused, say): the
  user was told to try again or another way. ``user``, ``factor`` (the django-otp
  device), ``error`` (the exception), ``request``.
- ``factors_changed``: the user added or removed a second factor, or made new backup
  codes (``trust.enrolment``). ``user``, ``action`` (a ``TrustAction``), ``label`` (what
  changed, e.g. "Authenticator app: Phone").
- ``factors_reset``: staff reset a user's second factors (``trust.recovery``). ``user``,
  ``by`` (the staff member, or None from the command line), ``reason``, ``request``.
- ``sign_in_completed``: a sign-in passed the gate, at once (allowed) or after its second
  factor. ``user``, ``check`` (the ``LoginCheck``, or None for a step-up), ``request``.
  Django's ``user_logged_in`` fires earlier, at the password step, challenged or not.
- ``login_challenged``: a sign-in must pass a second factor. ``user``, ``check`` (the
  ``LoginCheck``), ``request``.
- ``login_blocked``: a sign-in was refused by the policy. ``user``, ``check``, ``request``.
- ``provider_failed``: the identification provider failed. ``user``, ``error`` (a
  ``ProviderError``), ``request``.
"""

from django.dispatch import Signal

device_seen = Signal()
device_verified = Signal()
device_revoked = Signal()
device_blocked = Signal()
factors_reset = Signal()
factors_changed = Signal()
code_send_failed = Signal()
login_challenged = Signal()
sign_in_completed = Signal()
login_blocked = Signal()
provider_failed = Signal()
