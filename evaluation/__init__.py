"""BEIR-style evaluation of Sieve pipelines: the same pipeline code the service runs, scored by pytrec_eval."""
