"""Echo client on transports.blocking, for wstest's fuzzingserver: runs every case.

Run: python blocking_client.py PORT [AGENT]
"""

import sys

from transports.blocking import WebSocketError, connect


def main(port: int, agent: str) -> None:
    base = "ws://127.0.0.1:%d" % port
    with connect(base + "/getCaseCount") as ws:
        count = int(ws.receive())
    for case in range(1, count + 1):
        try:
            with connect(
                "%s/runCase?case=%d&agent=%s" % (base, case, agent), max_message_length=64 << 20
            ) as ws:
                for message in ws:
                    ws.send(message)
        except WebSocketError:
            pass  # the case ended the connection abnormally on purpose
    with connect("%s/updateReports?agent=%s" % (base, agent)):
        pass
    print("ran", count, "cases")


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "blocking")
