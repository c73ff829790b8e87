"""The benchmark's Django site: one project, plain or guarded by an environment switch."""
