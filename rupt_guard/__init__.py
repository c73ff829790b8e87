"""rupt_guard: a sign-in from a device the account never verified must pass a second factor."""

__version__ = "0.1.0"
