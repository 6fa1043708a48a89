// The front-end's statuses match the event vocabulary generated from
// pyworkflow_nb/history/vocabulary.py (tests/test_vocabulary.py checks the file is current).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";

import * as runsTable from "../runs_table.js";
import * as timeline from "../timeline.js";

const vocabulary = JSON.parse(
  readFileSync(new URL("../vocabulary.json", import.meta.url), "utf8"),
);

describe("vocabulary parity", () => {
  for (const [name, mod] of [["timeline", timeline], ["runs_table", runsTable]]) {
    it(`${name} treats exactly the vocabulary's terminal statuses as final`, () => {
      assert.deepEqual([...mod.TERMINAL_STATUSES].sort(), vocabulary.terminal_statuses);
    });
    it(`${name} has a colour for every run and step status`, () => {
      const missing = [...vocabulary.run_statuses, ...vocabulary.step_statuses]
        .filter((s) => !(s in mod.STATUS_COLORS));
      assert.deepEqual(missing, []);
    });
  }
  it("the two widgets colour statuses alike", () => {
    assert.deepEqual({ ...runsTable.STATUS_COLORS }, { ...timeline.STATUS_COLORS });
  });
});
