"""Runs the CLI with its stderr on a pseudo-terminal, as a user at a terminal sees it."""
import os
import pty
import subprocess


def run_with_tty_stderr(args, timeout=120):
    """(CompletedProcess with stdout captured, everything written to the terminal as text)."""
    primary, secondary = pty.openpty()
    try:
        result = subprocess.run(args, stdout=subprocess.PIPE, stderr=secondary, text=True, timeout=timeout)
        os.close(secondary)
        secondary = None
        chunks = []
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return result, b"".join(chunks).decode(errors="replace")
    finally:
        if secondary is not None:
            os.close(secondary)
        os.close(primary)
