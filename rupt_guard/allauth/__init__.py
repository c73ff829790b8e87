"""django-allauth, first class: the risk check as one of allauth's login stages, the identify
script on allauth's login form, and allauth.mfa's authenticators as second factors.

Add ``"rupt_guard.allauth"`` to ``INSTALLED_APPS`` beside allauth; see docs/allauth.md.
"""
