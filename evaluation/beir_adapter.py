"""A ``beir`` ``BaseSearch`` over a Sieve pipeline, so ``EvaluateRetrieval`` can drive our retrievers directly."""

from __future__ import annotations

import asyncio
from typing import Any

from beir.retrieval.search import BaseSearch

from evaluation.harness import run_in_process
from kernel.errors import InvalidInput
from service.pipeline import Pipeline
from service.specs import PipelineSpec


class SieveSearch(BaseSearch):  # type: ignore[misc]  # beir has no type information: its base class is Any
    """Searches a built Sieve collection; BEIR's ``corpus`` argument is ignored (the index already holds it).

    Example:
        >>> retriever = EvaluateRetrieval(SieveSearch(registry.pipeline("scifact"), PipelineSpec.named("bm25")))
        >>> results = retriever.retrieve(corpus, queries)
    """

    def __init__(self, pipeline: Pipeline, spec: PipelineSpec, concurrency: int = 4) -> None:
        self.pipeline = pipeline
        self.spec = spec
        self.concurrency = concurrency

    def search(
        self, corpus: dict[str, dict[str, str]], queries: dict[str, str], top_k: int, *args: Any, **kwargs: Any
    ) -> dict[str, dict[str, float]]:
        """BEIR's call; its extra arguments (``score_function``) do not apply to a built index."""
        if corpus and len(corpus) != self.pipeline.collection.docs.count:
            raise InvalidInput(
                f"BEIR passed {len(corpus)} docs but collection {self.pipeline.collection.name!r} "
                f"holds {self.pipeline.collection.docs.count}; build the collection from the same corpus"
            )
        result = asyncio.run(run_in_process(self.pipeline, queries, self.spec, top_k, self.concurrency))
        return result.run

    def encode(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("SieveSearch searches a built index; encoding happens in `sieve index build`")

    def search_from_files(self, *args: Any, **kwargs: Any) -> dict[str, dict[str, float]]:
        raise NotImplementedError("SieveSearch searches a built index, not embedding files")
