import os
import signal

from dmlp_cli.training.preemption import Preempted, StopRequest


def test_a_signal_is_recorded_and_a_second_one_gets_the_previous_handler():
    seen = []
    previous = signal.signal(signal.SIGTERM, lambda number, frame: seen.append(number))
    try:
        with StopRequest() as stop:
            assert not stop.requested
            os.kill(os.getpid(), signal.SIGTERM)
            assert stop.requested and stop.signal_name == "SIGTERM" and seen == []
            os.kill(os.getpid(), signal.SIGTERM)  # the second one is not swallowed
            assert seen == [signal.SIGTERM]
        assert signal.getsignal(signal.SIGTERM) is not stop._handle
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_preempted_exits_with_128_plus_the_signal():
    assert Preempted(signal_name="SIGTERM", step=7, checkpoint="c").exit_code == 143
    assert Preempted(signal_name="SIGINT", step=7, checkpoint="c").exit_code == 130
