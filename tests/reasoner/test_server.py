"""Server status from the state file, against real loopback sockets (no vLLM needed)."""

import json
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from reasoner.server import ServerState, server_status


def state_file(tmp_path, port, healthy_at):
    state = ServerState(pid=os.getpid(), host="127.0.0.1", port=port, model="m", model_path="/m", log_path="/l",
                        device="cpu", started_at=0.0, healthy_at=healthy_at)
    path = tmp_path / "server.json"
    path.write_text(json.dumps(state.__dict__))
    return path


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_refusing_before_it_ever_answered_is_starting(tmp_path):
    assert server_status(state_file(tmp_path, closed_port(), None))[1] == "starting"


def test_refusing_after_it_answered_once_is_unhealthy(tmp_path):
    assert server_status(state_file(tmp_path, closed_port(), 123.0))[1] == "unhealthy"


def test_an_error_from_health_is_unhealthy_and_200_is_healthy(tmp_path):
    codes = iter([500, 200])

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(next(codes))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        path = state_file(tmp_path, srv.server_address[1], 1.0)
        assert server_status(path)[1] == "unhealthy"
        assert server_status(path)[1] == "healthy"
    finally:
        srv.shutdown()
        srv.server_close()


def test_no_state_file_is_stopped_and_a_dead_pid_is_dead(tmp_path):
    assert server_status(tmp_path / "none.json") == (None, "stopped")
    path = state_file(tmp_path, closed_port(), None)
    data = json.loads(path.read_text())
    data["pid"] = 2 ** 22 + 12345  # no such process
    path.write_text(json.dumps(data))
    assert server_status(path)[1] == "dead"
