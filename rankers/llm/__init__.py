"""LLM rerankers' plumbing: chat backends (local transformers, OpenAI-compatible HTTP) and prompts."""
