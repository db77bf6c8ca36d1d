"""``chains.queueing.ModelQueue``: fair, bounded, cancellable turns, from threads and event loops."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from chains.queueing import Cancelled, ModelQueue, QueueClosed, QueueFull


def _wait_until(condition, limit: float = 5.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.001)


class _Holder:
    """Holds the queue's turn on a thread of its own until ``release()``."""

    def __init__(self, queue: ModelQueue) -> None:
        self._go = threading.Event()
        self._thread = threading.Thread(target=self._hold, args=(queue,))
        self._thread.start()
        _wait_until(lambda: queue.running == 1)

    def _hold(self, queue: ModelQueue) -> None:
        with queue.turn():
            self._go.wait(10)

    def release(self) -> None:
        self._go.set()
        self._thread.join(5)


def test_waiters_run_in_arrival_order_one_at_a_time():
    queue = ModelQueue("m")
    order: list[int] = []
    active, overlaps = [0], [0]
    guard = threading.Lock()

    def work(n: int) -> None:
        with queue.turn():
            with guard:
                active[0] += 1
                overlaps[0] += active[0] > 1
            time.sleep(0.002)
            order.append(n)
            with guard:
                active[0] -= 1

    holder = _Holder(queue)
    threads = []
    for n in range(8):
        thread = threading.Thread(target=work, args=(n,))
        thread.start()
        threads.append(thread)
        _wait_until(lambda: queue.waiting == n + 1)  # this one is queued before the next starts
    assert queue.running == 1
    holder.release()
    for thread in threads:
        thread.join(5)
    assert order == list(range(8))
    assert overlaps == [0]
    assert (queue.waiting, queue.running) == (0, 0)


def test_a_caller_that_just_finished_cannot_jump_the_queue():
    queue = ModelQueue("m")
    order: list[str] = []
    holder = _Holder(queue)
    def other() -> None:
        with queue.turn():
            order.append("waiter")

    waiter = threading.Thread(target=other)
    waiter.start()
    _wait_until(lambda: queue.waiting == 1)
    holder.release()  # the holder's thread is done; now take a turn from here at once
    with queue.turn():
        order.append("late")
    waiter.join(5)
    assert order == ["waiter", "late"]


def test_full_queue_refuses_at_once_with_a_retry_estimate():
    queue = ModelQueue("m", max_waiting=1)
    for _ in range(3):  # recent turns of ~20 ms make the estimate
        with queue.turn():
            time.sleep(0.02)
    holder = _Holder(queue)
    ran = []

    def wait_and_run() -> None:
        with queue.turn():
            ran.append(True)

    waiter = threading.Thread(target=wait_and_run)
    waiter.start()
    _wait_until(lambda: queue.waiting == 1)
    started = time.monotonic()
    with pytest.raises(QueueFull) as raised:
        with queue.turn():
            pytest.fail("a refused caller must not run")
    assert time.monotonic() - started < 0.5
    # one running and one waiting ahead: about two recent turns of ~20 ms each
    assert 0.03 <= raised.value.retry_after <= 1.0
    assert "wait for the m model" in str(raised.value)
    holder.release()
    waiter.join(5)
    assert ran == [True]
    assert queue.waiting == 0


def test_zero_waiting_allowed_means_only_an_idle_model_takes_callers():
    queue = ModelQueue("m", max_waiting=0)
    with queue.turn():
        pass
    holder = _Holder(queue)
    with pytest.raises(QueueFull):
        with queue.turn():
            pass
    holder.release()


def test_cancel_event_leaves_the_queue_without_running_and_keeps_order():
    queue = ModelQueue("m")
    holder = _Holder(queue)
    cancel = threading.Event()
    outcome: list[object] = []

    def cancelled_waiter() -> None:
        try:
            with queue.turn(cancel=cancel):
                outcome.append("ran")
        except Cancelled as exc:
            outcome.append(exc)

    def next_waiter() -> None:
        with queue.turn():
            outcome.append("next ran")

    first = threading.Thread(target=cancelled_waiter)
    first.start()
    _wait_until(lambda: queue.waiting == 1)
    second = threading.Thread(target=next_waiter)
    second.start()
    _wait_until(lambda: queue.waiting == 2)
    cancel.set()
    first.join(5)
    assert isinstance(outcome[0], Cancelled)
    assert queue.waiting == 1
    holder.release()
    second.join(5)
    assert outcome[1:] == ["next ran"]
    assert (queue.waiting, queue.running) == (0, 0)


def test_a_set_cancel_event_never_queues():
    queue = ModelQueue("m")
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        with queue.turn(cancel=cancel):
            pytest.fail("must not run")
    assert (queue.waiting, queue.running) == (0, 0)


def test_timeout_leaves_the_queue_without_running():
    queue = ModelQueue("m")
    holder = _Holder(queue)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        with queue.turn(timeout=0.1):
            pytest.fail("must not run")
    assert 0.09 <= time.monotonic() - started < 2
    assert queue.waiting == 0
    holder.release()
    with queue.turn(timeout=0.1):  # the queue still works afterwards
        assert queue.running == 1


def test_close_wakes_every_waiter_and_lets_the_running_turn_finish():
    queue = ModelQueue("m")
    finished = threading.Event()
    go = threading.Event()

    def runner() -> None:
        with queue.turn():
            go.wait(5)
            finished.set()

    running = threading.Thread(target=runner)
    running.start()
    _wait_until(lambda: queue.running == 1)
    errors: list[BaseException] = []

    def waiter() -> None:
        try:
            with queue.turn():
                errors.append(AssertionError("ran after close"))
        except QueueClosed as exc:
            errors.append(exc)

    waiters = [threading.Thread(target=waiter) for _ in range(3)]
    for thread in waiters:
        thread.start()
    _wait_until(lambda: queue.waiting == 3)
    queue.close()
    for thread in waiters:
        thread.join(5)
    assert len(errors) == 3 and all(isinstance(e, QueueClosed) for e in errors)
    assert not finished.is_set() and queue.running == 1
    go.set()
    running.join(5)
    assert finished.is_set() and queue.running == 0
    with pytest.raises(QueueClosed):
        with queue.turn():
            pass


def test_a_turn_may_be_given_back_from_another_thread():
    """A streamed answer's generator can be resumed, and closed, on another thread."""
    queue = ModelQueue("m")

    def pieces():
        with queue.turn():
            yield 1
            yield 2

    generator = pieces()
    assert next(generator) == 1
    assert queue.running == 1
    closer = threading.Thread(target=generator.close)
    closer.start()
    closer.join(5)
    assert queue.running == 0


def test_async_turns_share_the_queue_with_threads_in_arrival_order():
    queue = ModelQueue("m")
    order: list[str] = []
    holder = _Holder(queue)

    async def main() -> None:
        async def one(name: str) -> None:
            async with queue.aturn():
                order.append(name)
                await asyncio.sleep(0.001)

        first = asyncio.create_task(one("task 1"))
        while queue.waiting < 1:
            await asyncio.sleep(0.001)
        thread = threading.Thread(target=_thread_turn, args=(queue, order, "thread"))
        thread.start()
        while queue.waiting < 2:
            await asyncio.sleep(0.001)
        second = asyncio.create_task(one("task 2"))
        while queue.waiting < 3:
            await asyncio.sleep(0.001)
        holder.release()
        await asyncio.gather(first, second)
        await asyncio.to_thread(thread.join, 5)

    asyncio.run(main())
    assert order == ["task 1", "thread", "task 2"]
    assert (queue.waiting, queue.running) == (0, 0)


def _thread_turn(queue: ModelQueue, order: list[str], name: str) -> None:
    with queue.turn():
        order.append(name)


def test_cancelling_the_awaiting_task_leaves_the_queue():
    queue = ModelQueue("m")
    holder = _Holder(queue)
    ran: list[str] = []

    async def main() -> None:
        async def one(name: str) -> None:
            async with queue.aturn():
                ran.append(name)

        doomed = asyncio.create_task(one("doomed"))
        while queue.waiting < 1:
            await asyncio.sleep(0.001)
        kept = asyncio.create_task(one("kept"))
        while queue.waiting < 2:
            await asyncio.sleep(0.001)
        doomed.cancel()
        with pytest.raises(asyncio.CancelledError):
            await doomed
        assert queue.waiting == 1
        await asyncio.to_thread(holder.release)
        await kept

    asyncio.run(main())
    assert ran == ["kept"]
    assert (queue.waiting, queue.running) == (0, 0)


def test_async_cancel_event_timeout_and_close():
    queue = ModelQueue("m")
    holder = _Holder(queue)

    async def main() -> list[type]:
        cancel = threading.Event()

        async def attempt(**kw) -> type:
            try:
                async with queue.aturn(**kw):
                    return type(None)
            except (Cancelled, TimeoutError, QueueClosed) as exc:
                return type(exc)

        by_event = asyncio.create_task(attempt(cancel=cancel))
        by_time = asyncio.create_task(attempt(timeout=0.05))
        by_close = asyncio.create_task(attempt())
        while queue.waiting < 3:
            await asyncio.sleep(0.001)
        cancel.set()
        results = [await by_event, await by_time]
        assert queue.waiting == 1
        queue.close()
        results.append(await by_close)
        return results

    assert asyncio.run(main()) == [Cancelled, TimeoutError, QueueClosed]
    assert queue.waiting == 0
    holder.release()
    assert queue.running == 0


def test_a_turn_granted_to_a_task_of_a_finished_loop_is_passed_on():
    """A waiter whose event loop ended (without cancelling it) does not block the queue forever."""
    queue = ModelQueue("m")
    holder = _Holder(queue)
    loop = asyncio.new_event_loop()
    agen = queue.aturn().__aenter__()
    task = loop.create_task(agen)
    loop.run_until_complete(asyncio.sleep(0.01))
    assert queue.waiting == 1 and not task.done()
    loop.close()  # the task's loop is gone; its ticket can no longer be woken
    ran = []
    waiter = threading.Thread(target=_thread_turn, args=(queue, ran, "after"))
    waiter.start()
    _wait_until(lambda: queue.waiting == 2)
    holder.release()
    waiter.join(5)
    assert ran == ["after"]
    assert queue.running == 0


def test_many_event_loops_and_threads_at_once_never_overlap():
    queue = ModelQueue("m")
    active, overlaps, done = [0], [0], [0]
    guard = threading.Lock()

    def critical() -> None:
        with guard:
            active[0] += 1
            overlaps[0] += active[0] > 1
        time.sleep(0.0005)
        with guard:
            active[0] -= 1
            done[0] += 1

    async def loop_main() -> None:
        async def one() -> None:
            async with queue.aturn():
                critical()

        await asyncio.gather(*(one() for _ in range(10)))

    def thread_main() -> None:
        for _ in range(10):
            with queue.turn():
                critical()

    threads = [threading.Thread(target=asyncio.run, args=(loop_main(),)) for _ in range(3)]
    threads += [threading.Thread(target=thread_main) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert done == [60] and overlaps == [0]
    assert (queue.waiting, queue.running) == (0, 0)
