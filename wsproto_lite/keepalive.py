"""Keepalive and the closing deadline as pure state: the transport tells the time.

One implementation of "when is a ping due, is the peer dead, how long may close() still
wait" for every transport (asyncio, blocking, uasyncio, or a program's own loop). It has
no clock: each method that needs the time takes `now`, read from one monotonic clock of
the caller's choice, in the unit of the intervals it was given (seconds from
time.monotonic() or loop.time(); the uasyncio transport counts integer milliseconds,
which cost MicroPython no heap where a float would).

The rules, the same everywhere:

- Any byte from the peer is proof of life (a pong, a message, even half a frame): the
  transport calls heard(now) for each read.
- After `ping_interval` with nothing heard, a ping is due: poll() says PING and counts it
  as sent. With `ping_timeout`, the peer is DEAD once that long passes after the ping
  with nothing heard: fail the connection with 1011, "keepalive ping timeout". So a peer
  that goes silent is dead `ping_interval + ping_timeout` after its last byte. Without a
  timeout, a ping goes every `ping_interval` of silence and the peer is never dead.
- Once the closing handshake starts (closing()), pings stop and the connection has
  `close_timeout`; poll() says EXPIRED after that: drop the connection.

poll() decides only when called: a transport polls at wake_at() (a timer, a select()
timeout, a sleeping task), and again after changing anything that moves it.
"""

from ._compat import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Optional

# What poll() asks of the transport.
#: Nothing now; poll again at wake_at().
WAIT = 0
#: Send a ping now (it is already counted as sent).
PING = 1
#: The peer is overdue: fail the connection with DEAD_CODE and DEAD_REASON.
DEAD = 2
#: The closing handshake took longer than close_timeout: drop the connection.
EXPIRED = 3

#: The close code a transport fails a DEAD connection with.
DEAD_CODE = 1011
#: The close reason that goes with it.
DEAD_REASON = "keepalive ping timeout"


class Keepalive:
    """The timers of one connection (see the module docstring for the rules).

    Args:
        ping_interval: silence before a ping; None for no pings.
        ping_timeout: silence after a ping before the peer is dead; None: never.
        close_timeout: how long the closing handshake may take once closing() is called.
        now: the time the connection opened (silence is counted from it).

    Raises ValueError for an interval or timeout that is not a positive number.
    """

    # Starting values as class attributes: an instance stores only what differs
    # (each instance attribute costs heap on MicroPython, docs/micropython.rst).
    ping_interval: "Optional[float]" = None
    ping_timeout: "Optional[float]" = None
    close_timeout = 10.0
    _since = 0.0  # when the peer's last byte came (or the start)
    _ping_at: "Optional[float]" = None  # when the unanswered ping went, if one is out
    _close_by: "Optional[float]" = None  # the closing handshake's deadline, once closing

    def __init__(
        self,
        ping_interval: "Optional[float]" = None,
        ping_timeout: "Optional[float]" = None,
        close_timeout: float = 10.0,
        now: float = 0.0,
    ) -> None:
        for name, value in (("ping_interval", ping_interval), ("ping_timeout", ping_timeout)):
            if value is not None and not value > 0:
                raise ValueError("%s must be a positive number of seconds or None" % name)
        if not close_timeout > 0:
            raise ValueError("close_timeout must be a positive number of seconds")
        if ping_interval is not None:
            self.ping_interval = ping_interval
            if ping_timeout is not None:
                self.ping_timeout = ping_timeout
        if close_timeout != 10.0:
            self.close_timeout = close_timeout
        if now:
            self._since = now

    def heard(self, now: float) -> None:
        """Bytes came from the peer at `now`: it is alive, silence counts from here."""
        self._since = now
        if self._ping_at is not None:
            self._ping_at = None

    def poll(self, now: float) -> int:
        """What to do at time `now`: WAIT, PING (send one now), DEAD or EXPIRED."""
        close_by = self._close_by
        if close_by is not None:
            return EXPIRED if now >= close_by else WAIT
        interval = self.ping_interval
        if interval is None:
            return WAIT
        ping_at = self._ping_at
        if ping_at is None:
            if now < self._since + interval:
                return WAIT
        else:
            timeout = self.ping_timeout
            if timeout is not None:
                return DEAD if now >= ping_at + timeout else WAIT
            if now < ping_at + interval:  # no timeout: another ping after another interval
                return WAIT
        self._ping_at = now
        return PING

    def wake_at(self) -> "Optional[float]":
        """When poll() has something to decide next; None: never (no pings, not closing)."""
        close_by = self._close_by
        if close_by is not None:
            return close_by
        interval = self.ping_interval
        if interval is None:
            return None
        ping_at = self._ping_at
        if ping_at is None:
            return self._since + interval
        timeout = self.ping_timeout
        return ping_at + (interval if timeout is None else timeout)

    def closing(self, now: float) -> None:
        """The closing handshake started (either side's close frame): the clock runs.

        Calling it again keeps the first deadline.
        """
        if self._close_by is None:
            self._close_by = now + self.close_timeout

    @property
    def is_closing(self) -> bool:
        """Whether closing() was called."""
        return self._close_by is not None

    def close_left(self, now: float) -> float:
        """Seconds the closing handshake may still take (close_timeout before closing())."""
        close_by = self._close_by
        if close_by is None:
            return self.close_timeout
        left = close_by - now
        return left if left > 0 else 0.0

    def __repr__(self) -> str:
        return "<Keepalive ping_interval=%r ping_timeout=%r close_timeout=%r>" % (
            self.ping_interval,
            self.ping_timeout,
            self.close_timeout,
        )


__all__ = ["DEAD", "DEAD_CODE", "DEAD_REASON", "EXPIRED", "PING", "WAIT", "Keepalive"]
