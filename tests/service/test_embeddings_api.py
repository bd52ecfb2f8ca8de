"""``/v1/embeddings`` through the real OpenAI SDK and raw HTTP, against the real MiniLM."""

from __future__ import annotations

import base64

import httpx
import numpy as np
import pytest
from openai import BadRequestError, NotFoundError, OpenAI, UnprocessableEntityError

from indexers.encoders import EncoderSpec, build_encoder

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
TEXTS = ["Vitamin D deficiency and cancer", "Jet engine noise at take-off"]


@pytest.fixture(scope="module")
def openai_client(live_server: str) -> OpenAI:
    return OpenAI(base_url=f"{live_server}/v1", api_key="unused", max_retries=0)


def test_openai_sdk_gets_the_same_vectors_as_the_encoder(openai_client: OpenAI) -> None:
    resp = openai_client.embeddings.create(model=MODEL, input=TEXTS)  # the SDK asks for base64 by default
    got = np.array([d.embedding for d in resp.data], dtype=np.float32)
    want = build_encoder(EncoderSpec()).encode_docs(TEXTS)
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert [d.index for d in resp.data] == [0, 1] and resp.model == MODEL
    assert resp.usage.prompt_tokens == resp.usage.total_tokens > len(" ".join(TEXTS).split())


def test_dimensions_truncate_and_renormalise(openai_client: OpenAI) -> None:
    full = openai_client.embeddings.create(model=MODEL, input=TEXTS[0]).data[0].embedding
    short = openai_client.embeddings.create(model=MODEL, input=TEXTS[0], dimensions=64).data[0].embedding
    assert len(full) == 384 and len(short) == 64
    expected = np.array(full[:64]) / np.linalg.norm(full[:64])
    np.testing.assert_allclose(short, expected, atol=1e-5)


async def test_float_format_over_raw_http(client: httpx.AsyncClient) -> None:
    body = {"model": MODEL, "input": TEXTS, "encoding_format": "float"}
    data = (await client.post("/v1/embeddings", json=body)).json()
    assert data["object"] == "list" and data["data"][0]["object"] == "embedding"
    vec = np.array(data["data"][1]["embedding"])
    assert vec.shape == (384,) and abs(np.linalg.norm(vec) - 1) < 1e-5
    b64 = (await client.post("/v1/embeddings", json={**body, "encoding_format": "base64"})).json()
    decoded = np.frombuffer(base64.b64decode(b64["data"][1]["embedding"]), dtype="<f4")
    np.testing.assert_allclose(decoded, vec, atol=1e-6)


def test_sdk_sees_clear_errors(openai_client: OpenAI) -> None:
    with pytest.raises(NotFoundError, match="unknown embedding model 'nope'"):
        openai_client.embeddings.create(model="nope", input="x")
    with pytest.raises(UnprocessableEntityError, match=r"supports 1\.\.384"):
        openai_client.embeddings.create(model=MODEL, input="x", dimensions=1000)
    with pytest.raises((UnprocessableEntityError, BadRequestError)):
        openai_client.embeddings.create(model=MODEL, input="")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"model": MODEL, "input": []}, "input is an empty list"),
        ({"model": MODEL, "input": ["ok", ""]}, "input"),
        ({"model": MODEL, "input": "x", "dimensions": 0}, "dimensions"),
        ({"model": MODEL, "input": "x", "encoding_format": "int8"}, "encoding_format"),
        ({"input": "x"}, "model: Field required"),
        ({"model": MODEL, "input": ["x"] * 257}, "the limit is 256"),
    ],
)
async def test_bad_embedding_requests(client: httpx.AsyncClient, body: dict, message: str) -> None:
    resp = await client.post("/v1/embeddings", json=body)
    assert resp.status_code == 422, resp.text
    assert message in resp.json()["error"]["message"]


async def test_a_request_over_its_budget_is_a_504_and_over_the_limit_a_422(client: httpx.AsyncClient) -> None:
    texts = [f"{TEXTS[0]} number {i} " * 20 for i in range(64)]
    late = await client.post("/v1/embeddings", json={"model": MODEL, "input": texts, "timeout_ms": 1})
    assert late.status_code == 504 and "not embedded within the 1 ms budget" in late.json()["error"]["message"]
    over = await client.post("/v1/embeddings", json={"model": MODEL, "input": TEXTS, "timeout_ms": 600_000})
    assert over.status_code == 422 and "over this server's limit" in over.json()["error"]["message"]
    ok = await client.post("/v1/embeddings", json={"model": MODEL, "input": TEXTS, "timeout_ms": 30_000})
    assert ok.status_code == 200
