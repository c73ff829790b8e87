"""Template tags: ``{% load rupt_guard %}`` for the identify tag of login forms."""
