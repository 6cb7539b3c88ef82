"""Tries to reach a TCP port on 127.0.0.1 and reports whether it could."""

import argparse
import socket

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
args, _ = parser.parse_known_args()
try:
    socket.create_connection(("127.0.0.1", args.port), timeout=3).close()
    print("network: reachable", flush=True)
except OSError as exc:
    print(f"network: blocked ({exc})", flush=True)
