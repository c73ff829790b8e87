"""URLs of the passkey ceremonies, inside the ``rupt_guard`` namespace."""

urlpatterns: list = []
