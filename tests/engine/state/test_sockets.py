"""The local end of a socket held by a process, read through a pidfd copy of its descriptor."""

from __future__ import annotations

import os
import socket

from engine.state.sockets import local_address


def test_local_end_of_a_connected_and_an_accepted_socket() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        accepted, _ = server.accept()
        try:
            assert local_address(os.getpid(), client.fileno()) == client.getsockname()
            assert local_address(os.getpid(), accepted.fileno()) == accepted.getsockname()
            client.sendall(b"still open")  # the copy was closed, the socket was not
            assert accepted.recv(10) == b"still open"
        finally:
            client.close()
            accepted.close()


def test_no_answer_for_what_is_not_an_inet_socket_or_not_there() -> None:
    left, right = socket.socketpair()
    try:
        assert local_address(os.getpid(), left.fileno()) is None  # a unix socket has no ip:port
    finally:
        left.close()
        right.close()
    read_end, write_end = os.pipe()
    try:
        assert local_address(os.getpid(), read_end) is None  # not a socket
    finally:
        os.close(read_end)
        os.close(write_end)
    assert local_address(os.getpid(), 10_000) is None  # no such descriptor
    assert local_address(2**22 + 1, 3) is None  # no such process
