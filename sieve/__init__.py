"""The ``sieve`` command line: build indexes, serve, query, evaluate."""
