"""A minimal blocking QMP client for the bench programs (stdlib only)."""
import json
import socket
import time


class Qmp:
    def __init__(self, path):
        for _ in range(400):
            try:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.connect(path)
                break
            except OSError:
                time.sleep(0.025)
        else:
            raise RuntimeError(f"no QMP socket at {path}")
        self.file = self.sock.makefile("rw")
        json.loads(self.file.readline())
        self.cmd("qmp_capabilities")

    def cmd(self, name, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.file.write(json.dumps(msg) + "\n")
        self.file.flush()
        while True:
            reply = json.loads(self.file.readline())
            if "event" not in reply:
                return reply
