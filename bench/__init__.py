"""The bench: each figure beside its yardstick and its goal (`make bench`)."""
