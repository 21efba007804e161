"""One module per API family: paths, request builders, response views and the family's "first token"."""
