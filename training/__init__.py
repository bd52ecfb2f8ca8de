"""Training that Sieve can do on its own data: Matryoshka fine-tuning of embedders, listwise cross-encoder rerankers."""
