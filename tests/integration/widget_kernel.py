"""Talk to widgets in a real kernel the way a front-end does: iopub in, comm messages out."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from jupyter_client.manager import start_new_kernel


class WidgetKernel:
    """A kernel plus a record of every widget model it opened and every message they sent."""

    def __init__(self, kc: Any) -> None:
        self.kc = kc
        self.models: dict[str, dict[str, Any]] = {}  # comm id -> latest synced state
        self.opened: dict[str, dict[str, Any]] = {}  # comm id -> state it was opened with
        self.custom: list[tuple[str, Any]] = []  # (comm id, content) in arrival order
        self.closed: set[str] = set()  # comm ids the kernel closed
        self.displays: list[dict[str, Any]] = []  # display / update_display data
        self.printed: dict[str, str] = {}  # request msg_id -> what it printed to stdout
        self._idle: set[str] = set()  # requests the kernel has finished

    def execute(self, code: str, timeout: float = 30) -> str:
        """Run a cell, reading every iopub message until the kernel is idle after it; returns
        what the cell printed to stdout (however the kernel split it into stream messages).

        Like a front-end, and unlike ``execute_interactive``, this keeps messages that belong
        to other requests: the engine's thread sends widget updates under whichever request
        the kernel handles at that moment.
        """
        msg_id = self.kc.execute(code)
        self.pump(lambda: msg_id in self._idle, timeout)
        while True:
            reply = self.kc.get_shell_msg(timeout=timeout)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        assert reply["content"]["status"] == "ok", reply["content"]
        return self.printed.get(msg_id, "")

    def _handle(self, msg: dict[str, Any]) -> None:
        kind, content = msg["msg_type"], msg["content"]
        if kind == "comm_open":
            self.models[content["comm_id"]] = dict(content["data"]["state"])
            self.opened[content["comm_id"]] = dict(content["data"]["state"])
        elif kind == "comm_close":
            self.closed.add(content["comm_id"])
        elif kind == "comm_msg":
            data = content["data"]
            if data.get("method") == "update":
                self.models[content["comm_id"]].update(data["state"])
            elif data.get("method") == "custom":
                self.custom.append((content["comm_id"], data["content"]))
        elif kind in ("display_data", "update_display_data", "execute_result"):
            self.displays.append(content["data"])
        elif kind == "stream" and content["name"] == "stdout":
            parent = msg["parent_header"].get("msg_id", "")
            self.printed[parent] = self.printed.get(parent, "") + content["text"]
        elif kind == "error":
            raise AssertionError("\n".join(content["traceback"]))
        elif kind == "status" and content["execution_state"] == "idle":
            self._idle.add(msg["parent_header"].get("msg_id", ""))

    def pump(self, until: Callable[[], bool], timeout: float = 20) -> None:
        """Read iopub until ``until()`` holds."""
        deadline = time.monotonic() + timeout
        while not until():
            left = deadline - time.monotonic()
            assert left > 0, "timed out waiting for the kernel"
            try:
                self._handle(self.kc.get_iopub_msg(timeout=min(left, 1.0)))
            except Exception as exc:  # queue.Empty: keep waiting
                if type(exc).__name__ != "Empty":
                    raise

    def model_of(self, anywidget_id: str) -> str:
        """The comm id of the last widget opened of the class named ``anywidget_id``."""
        ids = [cid for cid, s in self.models.items() if s.get("_anywidget_id") == anywidget_id]
        assert ids, f"no {anywidget_id} widget was opened"
        return ids[-1]

    def send(self, comm_id: str, content: Any) -> None:
        """A custom message from a view to the kernel side of ``comm_id``."""
        msg = self.kc.session.msg("comm_msg", {"comm_id": comm_id,
                                               "data": {"method": "custom", "content": content}})
        self.kc.shell_channel.send(msg)

    def replies(self, comm_id: str, kind: str) -> list[Any]:
        return [c for cid, c in self.custom if cid == comm_id and c.get("type") == kind]


@contextmanager
def widget_kernel(cwd: Path, kernel_name: str) -> Iterator[WidgetKernel]:
    km, kc = start_new_kernel(kernel_name=kernel_name, cwd=str(cwd))
    try:
        yield WidgetKernel(kc)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
