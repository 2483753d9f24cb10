"""Writes COUNT files under DIR/blobs/ one after another, with open() (MODE=open)
or os.open(..., dir_fd=...) (MODE=dirfd), and prints "<n> ok" or
"<n> err <errno>" for each.

    python3 py_writes.py MODE DIR COUNT
"""
import os
import sys

mode, top, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
dir_fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
for i in range(1, count + 1):
    try:
        if mode == "open":
            with open(os.path.join(top, "blobs", f"p{i}"), "w") as f:
                f.write("x")
        else:
            fd = os.open(f"blobs/p{i}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644, dir_fd=dir_fd)
            os.close(fd)
        print(f"{i} ok")
    except OSError as e:
        print(f"{i} err {e.errno}")
