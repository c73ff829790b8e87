"""What we remember: devices and their sightings, verification, revocation, factors.

Built on ``risk`` and ``providers`` (a verification is pushed to the provider's metadata);
knows nothing of sessions or requests in flight, which are the gate's.
"""
