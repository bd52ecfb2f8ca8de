"""``POST /v1/embeddings``: OpenAI-compatible embeddings (so the OpenAI SDK works unchanged), with Matryoshka
``dimensions`` (truncate, then renormalise) and ``encoding_format`` float or base64."""

from __future__ import annotations

import asyncio
import base64
from typing import Annotated, Literal

import numpy as np
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from indexers.encoders import EncoderSpec
from indexers.encoders.base import l2_normalize
from kernel.errors import InvalidInput, NotFound
from service.deadlines import Deadline
from service.deps import RegistryDep, SettingsDep
from service.errors import DeadlineExceeded
from service.retrieval import run_blocking

router = APIRouter(prefix="/v1", tags=["embeddings"])

InputText = Annotated[str, StringConstraints(min_length=1, max_length=32_768)]


class EmbeddingsRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")  # OpenAI clients may send fields we do not use (``user``)

    input: InputText | list[InputText] = Field(description="a string or a list of strings")
    model: str
    dimensions: int | None = Field(None, ge=1)
    encoding_format: Literal["float", "base64"] = "float"
    timeout_ms: int | None = Field(None, ge=1, le=600_000, description="Sieve extension: this request's time "
                                   "budget in ms [SIEVE_MAX_DEADLINE_MS]; past it the answer is a 504")


class EmbeddingData(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class Usage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingsResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[EmbeddingData]
    model: str
    usage: Usage


@router.post("/embeddings", response_model=EmbeddingsResponse)
async def embeddings(body: EmbeddingsRequest, registry: RegistryDep, settings: SettingsDep) -> EmbeddingsResponse:
    texts = [body.input] if isinstance(body.input, str) else body.input
    if not texts:
        raise InvalidInput("input is an empty list")
    if len(texts) > settings.max_embedding_inputs:
        raise InvalidInput(f"{len(texts)} inputs; the limit is {settings.max_embedding_inputs} per request")
    served = {m.lower(): m for m in settings.embedding_models}
    if body.model.lower() not in served:
        raise NotFound(f"unknown embedding model {body.model!r}; this server serves {settings.embedding_models}")
    batched = registry.async_encoders.get(EncoderSpec(model=served[body.model.lower()]))
    encoder = batched.encoder
    dims = body.dimensions or encoder.dim
    if dims > encoder.dim:
        raise InvalidInput(f"dimensions={dims}: model {body.model!r} supports 1..{encoder.dim}")
    # A whole batch of long texts can take seconds on a CPU: the budget defaults to the largest a request may ask for.
    deadline = Deadline.for_request(body.timeout_ms, settings.max_deadline_ms, settings.max_deadline_ms)
    try:
        async with asyncio.timeout(deadline.remaining()):
            vectors = await batched.encode_docs(texts)  # grouped with other requests' texts by the micro-batcher
    except TimeoutError:
        raise DeadlineExceeded(f"{len(texts)} inputs were not embedded within the {deadline.budget_ms:g} ms "
                               "budget; send fewer or shorter inputs, or a larger timeout_ms") from None
    tokens = await run_blocking(registry.executor, lambda: encoder.count_tokens(texts))
    vectors = l2_normalize(np.ascontiguousarray(vectors[:, :dims])) if dims < encoder.dim else vectors
    data = [
        EmbeddingData(index=i, embedding=base64.b64encode(v.astype("<f4").tobytes()).decode()
                      if body.encoding_format == "base64" else v.tolist())
        for i, v in enumerate(vectors)
    ]
    return EmbeddingsResponse(data=data, model=body.model, usage=Usage(prompt_tokens=tokens, total_tokens=tokens))
