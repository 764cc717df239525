"""Waiting without spinning a core: sleeps that double between polls, up to a ceiling.

Why one class: a rank that polls something (a non-blocking barrier, a message that has not come, a
file another host writes) must not take the CPU from the ranks still computing on an oversubscribed
or fully used node, yet must notice soon when the thing comes. Each waiter picks its own first and
longest sleep (how soon it must notice); the doubling is the same everywhere.
"""

from __future__ import annotations

import time


class Backoff:
    """Sleeps of `first` seconds, then twice as long each time, never longer than `most` seconds.

    `wait()` sleeps the current delay and doubles it; `reset()` starts over at `first` (after
    progress, when the next wait should be short again). Raises ValueError unless 0 < first <= most.
    """

    def __init__(self, first: float, most: float):
        if not 0 < first <= most:
            raise ValueError(f"Backoff({first}, {most}): need 0 < first <= most")
        self.first, self.most, self.delay = float(first), float(most), float(first)

    def wait(self) -> None:
        time.sleep(self.delay)
        self.delay = min(2 * self.delay, self.most)

    def reset(self) -> None:
        self.delay = self.first
