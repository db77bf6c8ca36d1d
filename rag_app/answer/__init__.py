"""From passages to an answer: the one LCEL chain, follow-ups, the support policy, backend settings."""
