"""MicroBatcher: grouping, per-caller answers, bounds, failures; and the real MiniLM encoder batched across callers."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from indexers.encoders import EncoderSpec, build_encoder
from service.batching import MicroBatcher
from service.config import BatchingSettings
from service.encoders import AsyncEncoder, by_length, with_precision
from service.errors import Overloaded
from service.metrics import Metrics


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(2)
    yield pool
    pool.shutdown(wait=False, cancel_futures=True)


class Recorder:
    """A batched function that doubles numbers, remembers each batch, and can be held (to let a queue build up)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.batches: list[list[int]] = []
        self.delay = delay
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, items: list[int]) -> list[int]:
        self.gate.wait(10)
        time.sleep(self.delay)
        self.batches.append(list(items))
        return [2 * x for x in items]


def batcher(fn: object, executor: ThreadPoolExecutor, **limits: float) -> MicroBatcher[int, int]:
    options = {"max_batch": 8, "max_wait_ms": 2.0, "max_queue": 100, **limits}
    return MicroBatcher("test", fn, executor, metrics=Metrics(), **options)  # type: ignore[arg-type]


async def test_concurrent_calls_are_grouped_and_answered_separately(executor: ThreadPoolExecutor) -> None:
    fn = Recorder(delay=0.05)
    b = batcher(fn, executor)
    results = await asyncio.gather(*(b.submit(i) for i in range(30)))
    assert results == [2 * i for i in range(30)]
    assert sorted(x for batch in fn.batches for x in batch) == list(range(30))
    assert max(len(batch) for batch in fn.batches) == 8 and len(fn.batches) <= 6  # 30 calls, not 30 model calls
    await b.close()


async def test_submit_many_keeps_order_across_batches(executor: ThreadPoolExecutor) -> None:
    b = batcher(Recorder(), executor, max_batch=4)
    assert await b.submit_many(list(range(10))) == [2 * i for i in range(10)]
    await b.close()


async def test_a_lone_request_does_not_wait_for_company(executor: ThreadPoolExecutor) -> None:
    b = batcher(Recorder(), executor, max_wait_ms=100.0)
    await b.submit(1)  # start the worker
    start = time.perf_counter()
    await b.submit(2)
    assert time.perf_counter() - start < 0.05  # far below the 100 ms linger: at low traffic there is none
    await b.close()


async def test_a_failing_batch_fails_its_callers_and_the_worker_goes_on(executor: ThreadPoolExecutor) -> None:
    calls = []

    def flaky(items: list[int]) -> list[int]:
        calls.append(items)
        if len(calls) == 1:
            raise ValueError("model exploded")
        return items

    b = batcher(flaky, executor)
    with pytest.raises(ValueError, match="model exploded"):
        await b.submit(1)
    assert await b.submit(2) == 2
    await b.close()


async def test_full_queue_raises_overloaded(executor: ThreadPoolExecutor) -> None:
    fn = Recorder()
    fn.gate.clear()  # hold the first batch so the queue fills behind it
    b = batcher(fn, executor, max_batch=1, max_queue=3)
    first = asyncio.ensure_future(b.submit(0))
    await asyncio.sleep(0.05)  # the worker took item 0 and is blocked in the model call
    queued = [asyncio.ensure_future(b.submit(i)) for i in (1, 2, 3)]
    await asyncio.sleep(0)
    with pytest.raises(Overloaded, match="limit 3") as err:
        await b.submit(4)
    assert err.value.retry_after_s == 1.0
    fn.gate.set()
    assert await asyncio.gather(first, *queued) == [0, 2, 4, 6]
    await b.close()


async def test_callers_that_left_are_skipped(executor: ThreadPoolExecutor) -> None:
    fn = Recorder()
    fn.gate.clear()
    b = batcher(fn, executor, max_batch=1)
    first = asyncio.ensure_future(b.submit(0))
    await asyncio.sleep(0.05)
    leaving = asyncio.ensure_future(b.submit(99))
    await asyncio.sleep(0)
    leaving.cancel()  # e.g. its deadline passed
    staying = asyncio.ensure_future(b.submit(1))
    await asyncio.sleep(0)
    fn.gate.set()
    assert await asyncio.gather(first, staying) == [0, 2]
    assert [99] not in fn.batches
    await b.close()


async def test_concurrency_keeps_that_many_batches_in_flight(executor: ThreadPoolExecutor) -> None:
    inside, most, lock, release = [0], [0], threading.Lock(), threading.Event()

    def slow(items: list[int]) -> list[int]:
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        release.wait(10)
        with lock:
            inside[0] -= 1
        return items

    b = batcher(slow, executor, max_batch=1, concurrency=2)
    calls = [asyncio.ensure_future(b.submit(i)) for i in range(4)]
    await asyncio.sleep(0.2)
    assert most[0] == 2  # two model calls at once, never three
    release.set()
    assert await asyncio.gather(*calls) == [0, 1, 2, 3]
    await b.close()


async def test_a_wrong_result_count_is_an_error_not_a_mixup(executor: ThreadPoolExecutor) -> None:
    b = batcher(lambda items: items[:-1], executor)
    with pytest.raises(RuntimeError, match="2 items in, 1 results out"):
        await b.submit_many([1, 2])
    await b.close()


async def test_real_encoder_batched_equals_one_by_one(executor: ThreadPoolExecutor) -> None:
    spec = EncoderSpec()
    encoder = build_encoder(spec)
    metrics = Metrics()
    batched = AsyncEncoder(encoder, spec, executor, batching=BatchingSettings(max_batch=16), cache=None,
                           metrics=metrics)
    texts = [f"effect of vitamin {c} on bone density in trial {i}" for i, c in enumerate("ABCDEK" * 4)]
    rows = await asyncio.gather(*(batched.encode_queries([t]) for t in texts))
    got = np.concatenate(rows)
    np.testing.assert_allclose(got, encoder.encode_queries(texts), atol=1e-5)
    name = "torch:sentence-transformers/all-MiniLM-L6-v2:queries"
    sample = metrics.registry.get_sample_value
    assert sample("sieve_batch_size_sum", {"batcher": name}) == len(texts)  # every text went through the batcher
    assert sample("sieve_batch_size_count", {"batcher": name}) < len(texts)  # in fewer model calls
    await batched.close()


@pytest.mark.parametrize(
    ("texts", "size", "passes"),
    [
        (["ccc", "a", "bb"], 8, [["a", "bb", "ccc"]]),
        (["ccc", "a", "bb", "dddd"], 2, [["a", "bb"], ["ccc", "dddd"]]),
        (["x" * 9, "y", "z" * 5], 1, [["y"], ["zzzzz"], ["xxxxxxxxx"]]),
    ],
)
def test_passes_group_texts_by_length_and_rows_keep_input_order(texts: list[str], size: int,
                                                                  passes: list[list[str]]) -> None:
    seen: list[list[str]] = []

    def encode(chunk: object) -> np.ndarray:
        seen.append(list(chunk))  # type: ignore[call-overload]
        return np.array([[float(len(t))] for t in chunk], dtype=np.float32)  # type: ignore[attr-defined]

    rows = by_length(encode, texts, size)
    assert seen == passes
    assert [float(r[0]) for r in rows] == [float(len(t)) for t in texts]


async def test_bfloat16_encoding_stays_close_to_float32(executor: ThreadPoolExecutor) -> None:
    spec = EncoderSpec()
    encoder = build_encoder(spec)
    texts = ["vitamin D and cancer risk", "statins after myocardial infarction in elderly patients"]
    half = AsyncEncoder(encoder, spec, executor, batching=BatchingSettings(), cache=None, metrics=Metrics(),
                        dtype="bfloat16")
    got = await half.encode_queries(texts)
    cosines = np.sum(got * encoder.encode_queries(texts), axis=1)
    assert got.dtype == np.float32 and np.all(cosines > 0.999) and np.all(cosines < 1.0 + 1e-5)
    assert with_precision(encoder.encode_queries, spec, "float32") == encoder.encode_queries
    assert with_precision(encoder.encode_queries, EncoderSpec(backend="onnx"), "bfloat16") == encoder.encode_queries
    await half.close()
