"""Publication: the last warehouse state that passed every blocking check."""
