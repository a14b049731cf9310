"""Role files `eraft node` must refuse (exit 2, naming the key), and valid controls."""
