"""Adapters that put Sieve inside other frameworks; each needs its framework's pip extra.

- ``sieve_client.integrations.langchain``: ``SieveRetriever`` and ``SieveRerank`` (``pip install 'sieve[langchain]'``)
- ``sieve_client.integrations.llamaindex``: ``SieveRetriever`` and ``SieveRerank`` (``pip install 'sieve[llamaindex]'``)
"""
