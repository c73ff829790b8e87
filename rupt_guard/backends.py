"""The path sites name in ``AUTHENTICATION_BACKENDS``; the backend lives in ``gate.backend``."""

from rupt_guard.gate.backend import RuptGuardBackend, gated_sign_in

__all__ = ["RuptGuardBackend", "gated_sign_in"]
