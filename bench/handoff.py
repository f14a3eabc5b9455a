"""Why the writer hand-off is a Unix socket: its cost per write against the floor of a shared-memory ring.

Two processes ping-pong batches of frames the size of a PutItem hand-off
(~300 bytes out, ~20 back), as a worker and the writer do.  ``socket``
moves the frames through a Unix stream socket (what ``protocol/writer.py``
does); ``wake-up only`` moves one byte each way through a pipe and no data —
the least a shared-memory ring costs when its reader sleeps until woken
(a ring that spins instead burns a core per waiting process, which this
two-core machine cannot give).  Prints CPU µs per frame on each side.

    python3 bench/handoff.py
"""

from __future__ import annotations

import os
import socket
import struct
import sys
import time

BATCH = 8  # requests in one round at 16 connections (the writer's rounds averaged 7-9)
ROUNDS = 20_000
REQUEST = struct.pack("<II", 300, 1) + b"x" * 300
ANSWER = struct.pack("<IIB", 2, 1, 0) + b"{}"


def serve_socket(sock: socket.socket) -> None:
    want = len(REQUEST) * BATCH
    for _ in range(ROUNDS):
        got = 0
        while got < want:
            got += len(sock.recv(1 << 16))
        sock.sendall(ANSWER * BATCH)


def drive_socket(sock: socket.socket) -> None:
    want = len(ANSWER) * BATCH
    for _ in range(ROUNDS):
        sock.sendall(REQUEST * BATCH)
        got = 0
        while got < want:
            got += len(sock.recv(1 << 16))


def serve_pipe(read_fd: int, write_fd: int) -> None:
    for _ in range(ROUNDS):
        os.read(read_fd, 1)
        os.write(write_fd, b"!")


def drive_pipe(read_fd: int, write_fd: int) -> None:
    for _ in range(ROUNDS):
        os.write(write_fd, b"!")
        os.read(read_fd, 1)


def measure(name: str, serve: object, drive: object, server_args: tuple, driver_args: tuple) -> None:
    pid = os.fork()
    if pid == 0:
        start = time.process_time()
        serve(*server_args)  # type: ignore[operator]
        os.write(report_w, struct.pack("<d", time.process_time() - start))
        os._exit(0)
    start, wall = time.process_time(), time.perf_counter()
    drive(*driver_args)  # type: ignore[operator]
    driver_cpu, elapsed = time.process_time() - start, time.perf_counter() - wall
    server_cpu = struct.unpack("<d", os.read(report_r, 8))[0]
    os.waitpid(pid, 0)
    frames = ROUNDS * BATCH
    print(f"{name:16} worker {driver_cpu / frames * 1e6:5.1f} µs/frame   writer {server_cpu / frames * 1e6:5.1f} "
          f"µs/frame   round trip {elapsed / ROUNDS * 1e6:6.1f} µs per batch of {BATCH}")


if __name__ == "__main__":
    report_r, report_w = os.pipe()
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    measure("socket", serve_socket, drive_socket, (b,), (a,))
    to_server_r, to_server_w = os.pipe()
    to_driver_r, to_driver_w = os.pipe()
    measure("wake-up only", serve_pipe, drive_pipe, (to_server_r, to_driver_w), (to_driver_r, to_server_w))
    sys.exit(0)
