"""rupt_guard: a sign-in from a device the account never verified must pass a second factor."""

__version__ = "0.1.0"


class RuptGuardDeprecationWarning(DeprecationWarning):
    """Something a site uses will change or go in the next minor release (docs/versioning.md)."""
