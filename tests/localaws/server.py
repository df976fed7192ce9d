"""The moto server process: `python -m localaws.server` (with `tests/` on sys.path).

Applies the extensions in extensions.py, starts moto's server on a free port of 127.0.0.1 and
prints one line, `localaws listening on <endpoint>`, then serves until terminated. moto keeps its
state in module globals, so each server that needs its own state is its own process.
"""

from __future__ import annotations

import os
import signal
import sys
import threading


def main() -> int:
    # Imported here: moto reads its settings (INITIAL_NO_AUTH_ACTION_COUNT, ...) at import time
    # from the environment the parent process set.
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    from localaws import extensions

    # LOCALAWS_SKIP_EXTENSIONS: comma-separated names, for tests that show a gap is real.
    skip = [name for name in os.environ.get("LOCALAWS_SKIP_EXTENSIONS", "").split(",") if name]
    extensions.apply_all(skip)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    print(f"localaws listening on http://{host}:{port}", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
