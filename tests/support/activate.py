"""Trampoline that plays the part of systemd's exec step for socket activation.

Usage: ``python activate.py FD [NAME] -- argv...``. Moves FD to fd 3, sets LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES
for its own pid and execs argv (exec keeps the pid, so LISTEN_PID matches the daemon). This avoids forking the
multi-threaded test process to set LISTEN_PID after fork (stack-notes §2).
"""

import os
import sys

fd = int(sys.argv[1])
sep = sys.argv.index("--")
name = sys.argv[2] if sep > 2 else "http"
argv = sys.argv[sep + 1:]
if fd != 3:
    os.dup2(fd, 3)
    os.close(fd)
else:
    os.set_inheritable(3, True)
os.environ.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()), LISTEN_FDNAMES=name)
os.execv(argv[0], argv)
