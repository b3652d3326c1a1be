"""Posts to one channel are spaced; other channels are not held up (on a clock the test moves)."""

from __future__ import annotations

import asyncio

from opslayer.adapters.chat.pacing import ChannelPacer


async def test_posts_to_a_channel_wait_their_turn_and_other_channels_do_not() -> None:
    now = [100.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    pacer = ChannelPacer(1.0, now=lambda: now[0], sleep=sleep)
    async with pacer.turn("C1"):
        now[0] += 0.25  # the post itself took a quarter of a second
    async with pacer.turn("C2"):
        pass  # another channel: no wait
    async with pacer.turn("C1"):
        pass
    assert waits == [1.0]  # a full second after the first post ended
    now[0] += 5
    async with pacer.turn("C1"):
        pass
    assert waits == [1.0]  # long enough since: no wait


async def test_concurrent_posts_to_one_channel_go_one_at_a_time() -> None:
    now = [0.0]
    order: list[int] = []

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    pacer = ChannelPacer(2.0, now=lambda: now[0], sleep=sleep)

    async def post(n: int) -> None:
        async with pacer.turn("C1"):
            order.append(n)
            await asyncio.sleep(0)

    await asyncio.gather(*(post(n) for n in range(3)))
    assert order == [0, 1, 2] and now[0] == 4.0  # two waits of two seconds
