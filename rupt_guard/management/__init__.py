"""Management commands: rupt_guard_check, rupt_guard_prune, rupt_guard_sync."""
