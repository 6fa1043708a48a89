import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";

import widget, { actionsFor, errorText, filterRuns, parsePayload, toEpoch } from "../runs_table.js";
import { FakeModel, T0, makeDom, makeState, nextFrame } from "../testing/helpers.js";

const TIMELINE_ESM = readFileSync(new URL("../timeline.js", import.meta.url), "utf8");

const RUNS = [
  { run_id: "a", workflow: "etl", status: "completed", created_at: T0, finished_at: T0 + 65, error: null },
  { run_id: "b", workflow: "report", status: "failed", created_at: T0 + 100, finished_at: T0 + 101,
    error: { type: "ValueError", message: "bad" } },
  { run_id: "c", workflow: "ETL-nightly", status: "sleeping", created_at: "2023-11-14T22:20:00", finished_at: null, error: null },
];

/** @param {any[]} runs @param {Record<string, any>} state */
function mount(runs, state = {}) {
  const { el, document } = makeDom();
  const model = new FakeModel({ runs, state, _timeline_esm: TIMELINE_ESM });
  const cleanup = widget.render({ model, el });
  return { el, document, model, cleanup };
}

describe("helpers", () => {
  it("parses times", () => {
    assert.equal(toEpoch(T0), T0);
    assert.equal(toEpoch("2023-11-14T22:13:20Z"), T0);
    assert.equal(toEpoch("2023-11-14 22:13:20"), T0, "naive ISO is UTC");
    assert.ok(Number.isNaN(toEpoch(null)));
    assert.ok(Number.isNaN(toEpoch("soon")));
  });

  it("filters by workflow and status, newest first", () => {
    assert.deepEqual(filterRuns(RUNS).map((r) => r.run_id), ["c", "b", "a"]);
    assert.deepEqual(filterRuns(RUNS, { workflow: "etl" }).map((r) => r.run_id), ["c", "a"]);
    assert.deepEqual(filterRuns(RUNS, { status: "failed" }).map((r) => r.run_id), ["b"]);
    assert.deepEqual(filterRuns(RUNS, { workflow: "etl", status: "failed" }), []);
  });

  it("allows actions by status", () => {
    assert.deepEqual(actionsFor("running"), { timeline: true, cancel: true, terminate: true,
      pause: true, resume: false, retry: false, send_event: true });
    assert.deepEqual(actionsFor("failed"), { timeline: true, cancel: false, terminate: false,
      pause: false, resume: false, retry: true, send_event: false });
    assert.deepEqual([actionsFor("paused").pause, actionsFor("paused").resume], [false, true]);
    assert.equal(actionsFor("terminated").terminate, false);
    assert.equal(actionsFor("completed").retry, false);
    assert.equal(actionsFor("cancelled").retry, false, "the engine retries failed runs only");
  });

  it("parses payloads and errors", () => {
    assert.deepEqual(parsePayload(""), { ok: true, value: null });
    assert.deepEqual(parsePayload('{"a": [1]}'), { ok: true, value: { a: [1] } });
    assert.equal(parsePayload("{oops").ok, false);
    assert.equal(errorText({ type: "E", message: "m" }), "E: m");
    assert.equal(errorText("plain"), "plain");
    assert.equal(errorText(null), "");
  });
});

describe("runs table view", () => {
  it("lists runs newest first with status badges", () => {
    const { el, cleanup } = mount(RUNS);
    const rows = [...el.querySelectorAll("tr.pw-rt-row")];
    assert.deepEqual(rows.map((r) => /** @type {HTMLElement} */ (r).dataset.runId), ["c", "b", "a"]);
    assert.equal(rows[2].querySelector(".pw-rt-badge")?.textContent, "completed");
    assert.ok(rows[2].textContent?.includes("1 min 5 s"));
    assert.ok(rows[1].textContent?.includes("ValueError: bad"));
    assert.equal(el.querySelector(".pw-rt-count")?.textContent, "3 runs");
    cleanup();
  });

  it("shows hostile values as text", () => {
    const evil = "<img src=x onerror=alert(1)>";
    const { el, cleanup } = mount([
      { run_id: "<script>alert(1)</script>", workflow: evil, status: "<b>x</b>", created_at: T0,
        finished_at: null, error: { type: "<i>E</i>", message: evil } },
    ]);
    for (const tag of ["img", "script", "b", "i"]) assert.equal(el.querySelectorAll(tag).length, 0, tag);
    assert.ok(el.textContent?.includes(evil));
    assert.ok(el.querySelector("code")?.getAttribute("title")?.includes("<script>"));
    cleanup();
  });

  it("filters with the workflow input and the status select", async () => {
    const { el, document, cleanup } = mount(RUNS);
    const input = /** @type {HTMLInputElement} */ (el.querySelector(".pw-rt-filter-workflow"));
    input.value = "etl";
    input.dispatchEvent(new document.defaultView.Event("input"));
    await nextFrame();
    assert.equal(el.querySelectorAll("tr.pw-rt-row").length, 2);
    assert.equal(el.querySelector(".pw-rt-count")?.textContent, "2 of 3 runs");
    const select = /** @type {HTMLSelectElement} */ (el.querySelector(".pw-rt-filter-status"));
    assert.deepEqual([...select.options].map((o) => o.value), ["", "completed", "failed", "sleeping"]);
    select.value = "sleeping";
    select.dispatchEvent(new document.defaultView.Event("change"));
    await nextFrame();
    assert.deepEqual([...el.querySelectorAll("tr.pw-rt-row")].map((r) => /** @type {HTMLElement} */ (r).dataset.runId), ["c"]);
    cleanup();
  });

  it("sends actions and shows their results", () => {
    const { el, model, cleanup } = mount(RUNS);
    const btn = (/** @type {string} */ run, /** @type {string} */ action) =>
      /** @type {HTMLButtonElement} */ (el.querySelector(`tr[data-run-id="${run}"] button[data-action="${action}"]`));
    assert.equal(btn("a", "cancel").disabled, true);
    btn("a", "cancel").click();
    assert.equal(model.sent.length, 0, "a disabled button sends nothing");
    btn("c", "cancel").click();
    btn("b", "retry").click();
    btn("a", "timeline").click();
    assert.deepEqual(model.sent, [
      { type: "action", action: "cancel", run_id: "c" },
      { type: "action", action: "retry", run_id: "b" },
      { type: "action", action: "timeline", run_id: "a" },
    ]);
    model.message({ type: "action_result", action: "retry", run_id: "b", ok: false, message: "<b>no</b>" });
    const line = /** @type {HTMLElement} */ (el.querySelector(".pw-rt-status-line"));
    assert.equal(line.textContent, "retry b: <b>no</b>");
    assert.ok(line.classList.contains("pw-rt-status-line--error"));
    cleanup();
  });

  it("sends an event with a JSON payload from the inline form", async () => {
    const { el, model, cleanup } = mount(RUNS);
    /** @type {HTMLElement} */ (el.querySelector('tr[data-run-id="c"] button[data-action="send_event"]')).click();
    const form = /** @type {HTMLElement} */ (el.querySelector(".pw-rt-form"));
    assert.ok(form);
    const name = /** @type {HTMLInputElement} */ (form.querySelector(".pw-rt-event-name"));
    const payload = /** @type {HTMLTextAreaElement} */ (form.querySelector(".pw-rt-event-payload"));
    const send = /** @type {HTMLElement} */ (form.querySelector('button[data-action="form-send"]'));
    send.click();
    assert.equal(form.querySelector(".pw-rt-form-error")?.textContent, "give the event a name");
    name.value = "go";
    payload.value = "{bad json";
    send.click();
    assert.match(form.querySelector(".pw-rt-form-error")?.textContent || "", /not JSON/);
    // the form survives a redraw with what was typed
    model.set("runs", [...RUNS]);
    await nextFrame();
    assert.equal(/** @type {HTMLInputElement} */ (el.querySelector(".pw-rt-event-name")).value, "go");
    payload.value = '{"approved": true}';
    send.click();
    assert.deepEqual(model.sent, [
      { type: "action", action: "send_event", run_id: "c", event: "go", payload: { approved: true } },
    ]);
    assert.equal(el.querySelector(".pw-rt-form"), null);
    cleanup();
  });

  it("says when there are no runs and cleans up", () => {
    const { el, model, cleanup } = mount([]);
    assert.equal(el.querySelector(".pw-rt-empty")?.textContent, "no runs");
    cleanup();
    assert.equal(model.listenerCount(), 0);
    assert.equal(el.children.length, 0);
  });

  it("draws the picked run's timeline under the table, on the same model", async () => {
    const { el, model, cleanup } = mount(RUNS);
    await nextFrame();
    assert.equal(el.querySelector(".pw-tl"), null, "no timeline before a run is picked");
    model.set("state", makeState(3));
    await until(() => el.querySelector(".pw-rt-timeline .pw-tl-title"));
    assert.equal(el.querySelector(".pw-tl-title")?.textContent, "wf");
    assert.deepEqual(model.sent.at(-1), { type: "sync", seq: makeState(3).seq },
      "the timeline asks the kernel for a newer state, as a timeline widget does");
    const picked = { ...makeState(2), run: { ...makeState(2).run, workflow: "another" } };
    model.set("state", picked);
    await until(() => el.querySelector(".pw-tl-title")?.textContent === "another");
    assert.equal(el.querySelectorAll(".pw-tl").length, 1, "one timeline, switched in place");
    cleanup();
    assert.equal(model.listenerCount(), 0, "the timeline's listeners go with the table");
  });

  it("shows a picked run's timeline in a view opened later", async () => {
    const { el, cleanup } = mount(RUNS, makeState(4));
    await until(() => el.querySelector(".pw-rt-timeline .pw-tl"));
    cleanup();
  });
});

/** Wait (up to 2 s) until `check()` is truthy. @param {() => any} check */
async function until(check) {
  for (let i = 0; i < 50 && !check(); i++) await nextFrame();
  assert.ok(check(), "timed out waiting");
}
