"""The built wheel ships the widgets' front-end, and a wheel install renders a timeline."""

from __future__ import annotations

import json
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXTENSION = ROOT / "extension"
FRONT_END = ("timeline.js", "timeline.css", "runs_table.js")

IN_VENV = """
import json, sys
import pyworkflow_nb as pw
from pyworkflow_nb.notebook.timeline_widget import STATIC, TimelineWidget

pw.configure(store=":memory:")

@pw.step
def double(x):
    return 2 * x

@pw.workflow
async def shipped(n):
    return sum([await double(i) for i in range(n)])

handle = pw.SyncClient().start(shipped, 4)
handle.result()
widget = TimelineWidget(handle.run_id)
json.dump({"package": pw.__file__, "module": str(STATIC / "timeline.js"),
           "esm": widget._esm, "state": widget.state}, open(sys.argv[1], "w"))
pw.shutdown()
"""

RENDER = """
import fs from "node:fs";
import { pathToFileURL } from "node:url";
const out = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
const { FakeModel, makeDom } = await import(process.argv[2]);
const widget = (await import(pathToFileURL(out.module).href)).default;
const { el } = makeDom();
const cleanup = widget.render({ model: new FakeModel({ state: out.state }), el });
await new Promise((resolve) => setTimeout(resolve, 50));
process.stdout.write(JSON.stringify({
  segments: el.querySelectorAll(".pw-tl-seg").length,
  text: el.textContent,
}));
cleanup();
"""


def run(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a child process; when it fails, the failure shows everything it printed."""
    proc = subprocess.run(args, capture_output=True, text=True, **kwargs)
    assert proc.returncode == 0, (
        f"{' '.join(args[:4])} ... exited {proc.returncode}\n--- stdout\n{proc.stdout}"
        f"\n--- stderr\n{proc.stderr}")
    return proc


def make_venv(path: Path) -> Path:
    """A fresh venv that also sees this environment's packages (but not its editable install).

    ``--system-site-packages`` would show the *base* interpreter's packages, which inside a
    virtualenv (the README's way) lack everything the test needs; a .pth file naming this
    environment's site directories does not.
    """
    run([sys.executable, "-m", "venv", str(path)], timeout=120)
    python = path / "bin" / "python"
    purelib = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                  timeout=60).stdout.strip()
    parents = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (Path(purelib) / "_pw_test_parent_env.pth").write_text("\n".join(parents) + "\n")
    return python


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "-q", "-w", str(out), str(ROOT)], timeout=300)
    (built,) = out.glob("pyworkflow_nb-*.whl")
    return built


def test_wheel_contains_the_front_end_files(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        for name in FRONT_END:
            shipped = zf.read(f"pyworkflow_nb/notebook/static/{name}")
            assert shipped == (EXTENSION / name).read_bytes(), f"{name} is the real file"


@pytest.mark.skipif(shutil.which("node") is None
                    or not (EXTENSION / "node_modules" / "jsdom").exists(),
                    reason="needs node and extension/node_modules (npm ci)")
def test_a_wheel_install_renders_the_timeline(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    python = make_venv(venv)
    run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        timeout=300)
    out = tmp_path / "widget.json"
    run([str(python), "-c", IN_VENV, str(out)], cwd=tmp_path, timeout=120)
    facts = json.loads(out.read_text())
    assert Path(facts["package"]).is_relative_to(venv), "the wheel's copy was imported"
    assert facts["esm"] == (EXTENSION / "timeline.js").read_text()
    proc = run(["node", "--input-type=module", "-e", RENDER, str(out),
                (EXTENSION / "testing" / "helpers.js").as_uri()], timeout=60)
    page = json.loads(proc.stdout)
    assert page["segments"] >= 5, "the workflow's span and four steps"
    assert "shipped" in page["text"] and "double" in page["text"]
