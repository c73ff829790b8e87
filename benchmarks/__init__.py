"""The benchmark of issue #17: plain Django against rupt_guard, side by side in one run."""
