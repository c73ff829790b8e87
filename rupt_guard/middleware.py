"""The path sites name in ``MIDDLEWARE``; the gate lives in ``gate.middleware``."""

from rupt_guard.gate.middleware import RuptGuardMiddleware, pending_allowed

__all__ = ["RuptGuardMiddleware", "pending_allowed"]
