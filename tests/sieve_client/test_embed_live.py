"""``embed`` (sync and async) against the real ``/v1/embeddings`` under uvicorn on loopback, with the real MiniLM."""

from __future__ import annotations

import math

import pytest

from indexers.encoders import EncoderSpec, build_encoder
from sieve_client import AsyncSieveClient, SieveAPIError, SieveClient

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
TEXTS = ["Vitamin D deficiency and cancer", "Jet engine noise at take-off"]


def test_embed_returns_the_encoders_vectors(live_server: str) -> None:
    want = build_encoder(EncoderSpec()).encode_docs(TEXTS)
    with SieveClient(live_server, timeout=60) as sieve:
        floats = sieve.embed(TEXTS, MODEL)
        packed = sieve.embed(TEXTS, MODEL, encoding_format="base64")
        short = sieve.embed(TEXTS[0], MODEL, dimensions=64)
    assert floats.model == MODEL and floats.usage.total_tokens > 0
    for got in (floats.vectors(), packed.vectors()):
        assert len(got) == 2 and len(got[0]) == 384
        assert got[1] == pytest.approx(want[1].tolist(), abs=1e-5)
    assert isinstance(packed.data[0].embedding, str)
    (vec,) = short.vectors()
    assert len(vec) == 64 and math.isclose(math.hypot(*vec), 1.0, abs_tol=1e-5)


async def test_async_embed_and_errors(live_server: str) -> None:
    async with AsyncSieveClient(live_server, timeout=60) as sieve:
        got = await sieve.embed("coronary heart disease", MODEL)
        assert len(got.vectors()[0]) == 384
        with pytest.raises(SieveAPIError) as unknown:
            await sieve.embed("x", "nope")
    assert unknown.value.status == 404 and "nope" in unknown.value.message
