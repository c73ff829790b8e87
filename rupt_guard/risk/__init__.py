"""What one sign-in looks like and what it means: the provider's answer as facts, and the
policy, an ordered list of rules from facts to allow, challenge or block."""
