"""`make bench` and `make soak`: measurements of the product, not part of it."""
