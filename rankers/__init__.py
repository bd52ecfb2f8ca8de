"""Second-stage scoring: the ``Reranker`` contract, rerank backends, and score fusion of several runs."""
