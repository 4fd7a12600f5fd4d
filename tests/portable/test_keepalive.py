"""wsproto_lite.keepalive on its own, with a fake clock: numbers passed as `now`.

Runs under pytest and on MicroPython: bare asserts, no pytest import, no sleeps.
"""

from _helpers import raises

from wsproto_lite.keepalive import DEAD, EXPIRED, PING, WAIT, Keepalive


def test_no_interval_never_pings_and_never_wakes():
    ka = Keepalive(None, 20.0)
    assert ka.wake_at() is None
    assert ka.poll(0.0) == WAIT
    assert ka.poll(1e9) == WAIT
    assert ka.wake_at() is None


def test_ping_after_an_interval_of_silence_then_dead_after_the_timeout():
    ka = Keepalive(20.0, 10.0, now=100.0)
    assert ka.wake_at() == 120.0
    assert ka.poll(119.9) == WAIT
    assert ka.poll(120.0) == PING
    assert ka.wake_at() == 130.0  # the ping went at 120, 10 s to hear back
    assert ka.poll(129.9) == WAIT
    assert ka.poll(130.0) == DEAD
    assert ka.poll(131.0) == DEAD  # stays dead: the transport fails the connection


def test_any_byte_after_the_ping_is_life():
    ka = Keepalive(20.0, 10.0)
    assert ka.poll(20.0) == PING
    ka.heard(21.0)  # a pong, or any other byte
    assert ka.wake_at() == 41.0  # silence counts from the byte
    assert ka.poll(30.0) == WAIT
    assert ka.poll(40.9) == WAIT
    assert ka.poll(41.0) == PING
    assert ka.poll(51.0) == DEAD


def test_traffic_postpones_the_ping():
    ka = Keepalive(5.0, 5.0)
    for now in (4.0, 8.0, 12.0):  # the peer talks more often than every 5 s
        ka.heard(now)
        assert ka.poll(now + 4.9) == WAIT
        assert ka.wake_at() == now + 5.0
    assert ka.poll(17.0) == PING


def test_without_timeout_a_ping_every_interval_of_silence_and_never_dead():
    ka = Keepalive(3.0, None)
    assert ka.poll(3.0) == PING
    assert ka.wake_at() == 6.0
    assert ka.poll(5.0) == WAIT
    assert ka.poll(6.0) == PING
    assert ka.poll(1000.0) == PING
    assert ka.poll(1000.5) == WAIT


def test_closing_stops_pings_and_expires_after_close_timeout():
    ka = Keepalive(1.0, 1.0, close_timeout=4.0)
    assert ka.close_left(0.0) == 4.0  # before closing: the whole close_timeout
    assert not ka.is_closing
    ka.closing(10.0)
    assert ka.is_closing
    ka.closing(12.0)  # a second call keeps the first deadline
    assert ka.wake_at() == 14.0
    assert ka.poll(13.0) == WAIT  # no ping while closing, though 13 s were silent
    assert ka.close_left(13.0) == 1.0
    assert ka.poll(14.0) == EXPIRED
    assert ka.close_left(20.0) == 0.0


def test_closing_without_keepalive():
    ka = Keepalive(close_timeout=2.5)
    ka.closing(1.0)
    assert ka.wake_at() == 3.5
    assert ka.poll(3.4) == WAIT
    assert ka.poll(3.5) == EXPIRED


def test_a_silent_peer_is_dead_interval_plus_timeout_after_its_last_byte():
    # A transport that polls at wake_at(); the peer answers each ping 0.5 s later, up to
    # t=7, then goes silent. Timeout longer than the interval, the case a coarse "heard
    # since the last poll" would get wrong.
    for interval, timeout in ((2.0, 3.0), (3.0, 1.0), (1.0, 1.0)):
        ka = Keepalive(interval, timeout)
        now = 0.0
        last = 0.0
        answer_at = None
        action = WAIT
        for _ in range(100):  # bounded
            at = ka.wake_at()
            assert at is not None and at >= now
            if answer_at is not None and answer_at <= at:
                now = last = answer_at
                ka.heard(now)
                answer_at = None
                continue
            now = at
            action = ka.poll(now)
            if action == PING and now + 0.5 <= 7.0:
                answer_at = now + 0.5
            if action == DEAD:
                break
        assert action == DEAD
        assert now == last + interval + timeout, (interval, timeout, now, last)


def test_bad_settings_are_refused():
    for kwargs in (
        {"ping_interval": 0},
        {"ping_interval": -1.0},
        {"ping_interval": 1.0, "ping_timeout": 0},
        {"close_timeout": 0},
        {"close_timeout": -5},
    ):
        exc = raises(ValueError, Keepalive, **kwargs)
        assert "positive" in str(exc)


def test_an_instance_stores_only_what_differs_from_the_defaults():
    # MicroPython charges heap per instance attribute (docs/micropython.rst).
    assert Keepalive().__dict__ == {} if hasattr(Keepalive(), "__dict__") else True
    ka = Keepalive(20.0, 20.0)
    if hasattr(ka, "__dict__"):
        assert sorted(ka.__dict__) == ["ping_interval", "ping_timeout"]
