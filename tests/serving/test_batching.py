import asyncio
import time

import pytest

from emotune.serving.batching import MicroBatcher, QueueFull


def _echo_upper(calls):
    def predict(texts):
        calls.append(list(texts))
        return [t.upper() for t in texts]

    return predict


def test_concurrent_requests_share_batches_and_get_their_own_rows():
    calls = []

    async def main():
        b = MicroBatcher(_echo_upper(calls), max_batch=8, max_wait_ms=30, queue_size=100, name="t")
        b.start()
        results = await asyncio.gather(*(b.submit([f"a{i}", f"b{i}"]) for i in range(10)))
        await b.stop()
        return b, results

    b, results = asyncio.run(main())
    assert results == [[f"A{i}", f"B{i}"] for i in range(10)]
    assert len(calls) < 10 and max(len(c) for c in calls) <= 8  # batched, within max_batch
    assert b.stats.requests == 10 and b.stats.texts == 20 and b.stats.batches == len(calls)


def test_full_queue_raises_and_the_batcher_recovers():
    def slow(texts):
        time.sleep(0.2)
        return texts

    async def main():
        b = MicroBatcher(slow, max_batch=1, max_wait_ms=0, queue_size=2, name="slow")
        b.start()
        tasks = [asyncio.ensure_future(b.submit([str(i)])) for i in range(6)]
        done = await asyncio.gather(*tasks, return_exceptions=True)
        again = await b.submit(["x"])
        await b.stop()
        return b, done, again

    b, done, again = asyncio.run(main())
    rejected = [d for d in done if isinstance(d, QueueFull)]
    assert rejected and b.stats.rejected == len(rejected)
    assert [d for d in done if not isinstance(d, Exception)]
    assert again == ["x"]


def test_a_failing_model_fails_only_its_batch():
    state = {"fail": True}

    def flaky(texts):
        if state.pop("fail", False):
            raise RuntimeError("boom")
        return texts

    async def main():
        b = MicroBatcher(flaky, max_batch=4, max_wait_ms=0, name="flaky")
        with pytest.raises(RuntimeError, match="boom"):
            await b.submit(["a"])
        ok = await b.submit(["b"])
        await b.stop()
        return b, ok

    b, ok = asyncio.run(main())
    assert ok == ["b"] and b.stats.errors == 1
