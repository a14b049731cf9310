"""Security tests: the cluster secret's challenge-response, TLS, and clusters that use them."""
