"""The sign-in lifecycle and what enforces it: the backend, the middleware, the receivers.

Reads and writes through ``trust`` (what we remember) and ``risk`` (what one sign-in looks
like); the user-facing layer (views, api, admin, commands) calls into ``gate.lifecycle``.
"""
