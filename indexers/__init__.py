"""Offline side of Sieve: corpus readers, encoders, and the FAISS / Lucene index builders and readers.

Everything here is synchronous; the async service wraps it (see ``service/``).
"""
