"""``python -m pyworkflow_nb.history``: rewrite extension/vocabulary.json from the vocabulary."""

import sys
from pathlib import Path

from .vocabulary import as_json

target = Path(__file__).resolve().parents[2] / "extension" / "vocabulary.json"
target.write_text(as_json())
sys.stdout.write(f"wrote {target}\n")
