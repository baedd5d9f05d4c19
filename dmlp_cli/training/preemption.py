"""SIGTERM / SIGINT → finish the current step, write a checkpoint, exit: what clusters expect before a kill.

The handler only records the request; the loop checks it at a step boundary,
where every rank agrees (an all-reduce) to stop at the same step. A second
signal gets the default behaviour, so a user can still force-quit.
"""

import signal
from types import FrameType
from typing import Self


class StopRequest:
    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        self.signal_name: str | None = None
        self.previous: dict = {}

    def __enter__(self) -> Self:
        for number in self.SIGNALS:
            self.previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for number, handler in self.previous.items():
            signal.signal(number, handler)

    def _handle(self, number: int, frame: FrameType | None) -> None:
        self.signal_name = signal.Signals(number).name
        signal.signal(number, self.previous.get(number, signal.SIG_DFL))

    @property
    def requested(self) -> bool:
        return self.signal_name is not None


class Preempted(Exception):
    """Training stopped on a signal after saving; the CLI exits 128 + the signal number."""

    def __init__(self, *, signal_name: str, step: int, checkpoint: str):
        super().__init__(f"stopped by {signal_name} at step {step}; checkpoint {checkpoint}")
        self.signal_name, self.step, self.checkpoint = signal_name, step, checkpoint

    @property
    def exit_code(self) -> int:
        return 128 + int(signal.Signals[self.signal_name])
