"""plugscaffold: generate standalone, checked PyTorch models with published plug-ins wired in."""

import os as _os
import sys as _sys

__version__ = "0.1.0"


def _interrupted_while_loading(signum: int, frame: object) -> None:
    if signum == 2:  # SIGINT
        _os.write(2, b"plugscaffold: interrupted; nothing was written\n")
    else:  # SIGTERM, SIGHUP: nothing is started or written yet either; as cli.main says it
        name = {1: b"SIGHUP", 15: b"SIGTERM"}.get(signum, b"a signal")
        _os.write(2, b"plugscaffold: terminated by " + name + b"\n")
    _os._exit(128 + signum)


# Ctrl-C while the command loads its modules (the first ~0.1 s) ends like any other
# interrupt: one line, status 130, no traceback. Installed here, by the first code of the
# package that runs (with the C module: importing `signal` itself takes milliseconds);
# cli.main() puts Python's handler back. Only when run as the program (the console script
# or python -m plugscaffold): importing the library changes nothing.
if _os.path.basename(_sys.argv[0] if _sys.argv else "") in ("plugscaffold", "-m", "__main__.py"):
    try:
        import _signal

        for _name in ("SIGINT", "SIGTERM", "SIGHUP"):
            if hasattr(_signal, _name):
                _signal.signal(getattr(_signal, _name), _interrupted_while_loading)
    except (ImportError, ValueError):  # another Python; not the main thread
        pass
    # `plugscaffold new` checks its model in a worker whose `import torch` is the slow part:
    # it starts now, before the rest of the package loads (see _early.py).
    from . import _early

    _early.start_if_new(_sys.argv[1:])
