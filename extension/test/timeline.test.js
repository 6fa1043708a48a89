import assert from "node:assert/strict";
import { describe, it } from "node:test";

import widget, {
  applyDelta, axisTicks, canApply, formatDuration, GAP_PX, GAP_SHARE, layout, segmentTitle,
  statusColor, STATUS_COLORS, timeToX, visibleRange,
} from "../timeline.js";
import { FakeModel, T0, makeDom, makeState, nextFrame, stepRow } from "../testing/helpers.js";

/** Mount a timeline view on a fresh DOM. @param {any} state */
function mount(state) {
  const { el, document } = makeDom();
  const model = new FakeModel({ state });
  const cleanup = widget.render({ model, el });
  assert.deepEqual(model.sent, [{ type: "sync", seq: state.seq || 0 }], "a new view says what it holds");
  model.sent.length = 0;
  return { el, document, model, cleanup };
}

describe("formatDuration", () => {
  it("uses short units", () => {
    assert.equal(formatDuration(0), "0 ms");
    assert.equal(formatDuration(0.85), "850 ms");
    assert.equal(formatDuration(5), "5 s");
    assert.equal(formatDuration(12.34), "12.3 s");
    assert.equal(formatDuration(60), "1 min");
    assert.equal(formatDuration(242), "4 min 2 s");
    assert.equal(formatDuration(3 * 3600), "3 h");
    assert.equal(formatDuration(3 * 3600 + 300), "3 h 5 min");
    assert.equal(formatDuration(2 * 86400 + 5 * 3600), "2 d 5 h");
    assert.equal(formatDuration(-3), "0 ms");
  });
});

describe("statusColor", () => {
  it("maps known statuses and greys out the rest", () => {
    assert.equal(statusColor("failed"), STATUS_COLORS.failed);
    assert.equal(statusColor("no_such_status"), "#9e9e9e");
    assert.equal(statusColor("__proto__"), "#9e9e9e");
  });
});

describe("layout", () => {
  const base = (/** @type {any[]} */ gaps, end = T0 + 100) => ({
    now: end, run: { status: "completed", start: T0, end }, rows: [], markers: [], gaps,
    progress: { done: 0, total: 0 },
  });

  it("is linear without gaps", () => {
    const pieces = layout(base([]), 1000);
    assert.deepEqual(pieces, [{ start: T0, end: T0 + 100, x0: 0, x1: 1000, gap: false }]);
    assert.equal(timeToX(pieces, T0 + 25), 250);
    assert.equal(timeToX(pieces, T0 - 5), 0);
    assert.equal(timeToX(pieces, T0 + 500), 1000);
  });

  it("compresses a gap to GAP_PX and keeps one scale elsewhere", () => {
    const end = T0 + 20 + 10800;
    const st = base([{ start: T0 + 10, end: T0 + 10 + 10800, label: "slept 3 h" }], end);
    const pieces = layout(st, 1000);
    assert.equal(pieces.length, 3);
    assert.deepEqual(pieces.map((p) => p.gap), [false, true, false]);
    assert.equal(pieces[1].x1 - pieces[1].x0, GAP_PX);
    const scale0 = (pieces[0].x1 - pieces[0].x0) / (pieces[0].end - pieces[0].start);
    const scale2 = (pieces[2].x1 - pieces[2].x0) / (pieces[2].end - pieces[2].start);
    assert.ok(Math.abs(scale0 - scale2) < 1e-9);
    assert.equal(pieces[2].x1, 1000);
    assert.ok(Math.abs(timeToX(pieces, T0 + 10 + 5400) - (pieces[1].x0 + GAP_PX / 2)) < 1e-9);
  });

  it("shrinks gaps when there are many", () => {
    const gaps = [];
    for (let i = 0; i < 20; i++) gaps.push({ start: T0 + i * 200 + 100, end: T0 + i * 200 + 200, label: "" });
    const st = base(gaps, T0 + 4000);
    const pieces = layout(st, 1000);
    const gapPieces = pieces.filter((p) => p.gap);
    assert.equal(gapPieces.length, 20);
    for (const p of gapPieces) assert.ok(Math.abs(p.x1 - p.x0 - (GAP_SHARE * 1000) / 20) < 1e-9);
    for (let i = 1; i < pieces.length; i++) assert.ok(Math.abs(pieces[i].x0 - pieces[i - 1].x1) < 1e-9);
  });

  it("extends an open gap to a live view's clock", () => {
    const st = {
      ...base([{ start: T0 + 10, end: T0 + 1000, label: "slept", open: true }]),
      run: { status: "sleeping", start: T0, end: null }, now: T0 + 1000,
    };
    const pieces = layout(st, 500, T0 + 5000);
    const last = pieces[pieces.length - 1];
    assert.equal(last.gap, true);
    assert.equal(last.end, T0 + 5000);
    assert.equal(last.x1, 500);
  });

  it("handles an empty domain and an all-gap domain", () => {
    const empty = layout(base([], T0), 300);
    assert.deepEqual(empty, [{ start: T0, end: T0, x0: 0, x1: 300, gap: false }]);
    const all = layout(base([{ start: T0, end: T0 + 100, label: "" }]), 300);
    assert.equal(all.length, 1);
    assert.equal(all[0].gap, true);
    assert.equal(all[0].x1, 300);
  });

  it("gives ticks in order, inside the track", () => {
    const pieces = layout(makeState(50, { sleep: true }), 800);
    const ticks = axisTicks(pieces);
    assert.ok(ticks.length >= 3);
    for (let i = 1; i < ticks.length; i++) assert.ok(ticks[i].x > ticks[i - 1].x);
    for (const t of ticks) assert.match(t.label, /^\d\d:\d\d(:\d\d)?$/);
  });

  it("labels sub-second ticks with their fraction, each label once", () => {
    const state = makeState(3);
    state.run.end = state.run.start + 3.5;
    const ticks = axisTicks(layout(state, 900));
    assert.ok(ticks.length >= 4);
    for (const t of ticks) assert.match(t.label, /^\d\d:\d\d:\d\d\.\d$/);
    assert.equal(new Set(ticks.map((t) => t.label)).size, ticks.length);
  });
});

describe("visibleRange", () => {
  it("covers the viewport with overscan, clamped", () => {
    assert.deepEqual(visibleRange(0, 220, 1000), [0, 18]);
    const [a, b] = visibleRange(22 * 500, 220, 1000);
    assert.ok(a <= 500 && b >= 510 && b - a < 40);
    assert.deepEqual(visibleRange(0, 220, 3), [0, 3]);
  });
});

describe("applyDelta", () => {
  const old = makeState(3);

  it("replaces changed rows, appends added ones, keeps the rest by reference", () => {
    const changed = stepRow("fetch#2", T0 + 1, T0 + 2, { status: "failed", output: null });
    const added = stepRow("fetch#4", T0 + 3, T0 + 4);
    const delta = {
      base: old.seq, seq: old.seq + 3, rows: { "fetch#2": changed, "fetch#4": added },
      added: ["fetch#4"], progress: { done: 3, failed: 1, total: 4 },
    };
    assert.ok(canApply(old, delta));
    const next = applyDelta(old, delta);
    assert.deepEqual(next.rows.map((r) => r.id), ["workflow", "fetch#1", "fetch#2", "fetch#3", "fetch#4"]);
    assert.equal(next.rows[2], changed);
    assert.equal(next.rows[1], old.rows[1]);
    assert.equal(next.seq, old.seq + 3);
    assert.deepEqual(next.progress, delta.progress);
    assert.equal(old.rows.length, 4, "the old state is untouched");
  });

  it("applies a full order and marker tails", () => {
    const delta = {
      base: old.seq, seq: old.seq, rows: {}, order: ["workflow", "fetch#3", "fetch#1"],
      markers_from: 0, markers: [{ ts: T0, kind: "cancel", label: "cancel requested", text: null }],
    };
    const next = applyDelta(old, delta);
    assert.deepEqual(next.rows.map((r) => r.id), ["workflow", "fetch#3", "fetch#1"]);
    assert.equal(next.markers.length, 1);
    assert.equal(next.markers[0].kind, "cancel");
    const appended = applyDelta(old, { base: old.seq, seq: old.seq, markers_from: 1, markers: [old.markers[0]] });
    assert.equal(appended.markers.length, 2);
  });

  it("refuses a delta built on another base", () => {
    assert.equal(canApply(old, { base: old.seq - 1, seq: old.seq }), false);
  });
});

describe("segmentTitle", () => {
  it("names the row, attempt, status and duration", () => {
    const row = stepRow("fetch#2", T0, T0 + 1.5);
    assert.equal(segmentTitle(row, row.segments[0], T0), "fetch #2 · attempt 1 · completed · 1.5 s");
  });
});

describe("rendering", () => {
  it("draws the header, progress, axis and rows", () => {
    const { el, cleanup } = mount(makeState(5, { sleep: true }));
    assert.equal(el.querySelector(".pw-tl-title")?.textContent, "wf");
    assert.equal(el.querySelector(".pw-tl-ptext")?.textContent, "5 done / 5 total");
    assert.equal(el.querySelectorAll(".pw-tl-canvas .pw-tl-row").length, 6);
    assert.equal(el.querySelectorAll(".pw-tl-wfrow .pw-tl-seg").length, 1);
    const gapLabel = el.querySelector(".pw-tl-axis .pw-tl-gap");
    assert.equal(gapLabel?.textContent, "slept 3 h");
    assert.ok(el.querySelectorAll(".pw-tl-tick").length >= 2);
    assert.equal(el.querySelectorAll(".pw-tl-marker").length, 1);
    cleanup();
  });

  it("shows hostile strings as text and never as elements", () => {
    const state = makeState(2);
    const evil = "<img src=x onerror=alert(1)>";
    state.run.workflow = "<script>alert(1)</script>";
    state.rows[1] = stepRow("<b>x</b>#1", T0, T0 + 1, {
      output: evil, input: "<script>alert(2)</script>",
      error: { type: "<i>E</i>", message: evil, traceback: "<svg onload=alert(3)>" },
    });
    state.markers = [{ ts: T0 + 1, kind: "event", label: "<img src=y>", text: evil }];
    const { el, model, cleanup } = mount(state);
    const bar = /** @type {HTMLElement} */ (el.querySelector('.pw-tl-seg[data-row="<b>x</b>#1"]'));
    assert.ok(bar, "the bar of the hostile row is drawn");
    bar.click();
    for (const tag of ["img", "script", "b", "i", "svg"]) {
      assert.equal(el.querySelectorAll(tag).length, 0, `no <${tag}> element`);
    }
    assert.equal(el.querySelector(".pw-tl-title")?.textContent, "<script>alert(1)</script>");
    const text = el.querySelector(".pw-tl-details")?.textContent || "";
    assert.ok(text.includes(evil));
    assert.ok(text.includes("<script>alert(2)</script>"));
    assert.ok(text.includes("<svg onload=alert(3)>"));
    // full values from the kernel go in as text too
    const more = /** @type {HTMLElement|null} */ (el.querySelector(".pw-tl-more"));
    assert.equal(more, null, "not truncated: no show-more");
    const sel = /** @type {HTMLElement} */ (el.querySelector(".pw-tl-marker"));
    sel.click();
    assert.ok((el.querySelector(".pw-tl-details")?.textContent || "").includes(evil));
    assert.equal(el.querySelectorAll("img").length, 0);
    assert.equal(model.sent.length, 0);
    cleanup();
  });

  it("opens the details panel on click and loads full values on request", async () => {
    const state = makeState(3);
    state.rows[2] = stepRow("fetch#2", T0 + 1, T0 + 2, { output: "short…", truncated: true });
    const { el, model, cleanup } = mount(state);
    const details = /** @type {HTMLElement} */ (el.querySelector(".pw-tl-details"));
    assert.equal(details.hidden, true);
    /** @type {HTMLElement} */ (el.querySelector('.pw-tl-seg[data-row="fetch#2"]')).click();
    assert.equal(details.hidden, false);
    assert.ok(details.textContent?.includes("fetch #2") || details.textContent?.includes("fetch"));
    assert.ok(details.textContent?.includes("short…"));
    const more = /** @type {HTMLElement} */ (el.querySelector(".pw-tl-more"));
    assert.equal(more.textContent, "show more");
    more.click();
    assert.equal(model.sent.length, 1);
    const req = model.sent[0];
    assert.equal(req.type, "details");
    assert.equal(req.row, "fetch#2");
    assert.equal(req.attempt, 1);
    assert.ok(details.textContent?.includes("loading"));
    model.message({ type: "details", req: "someone-else", output: "nope" });
    assert.ok(!details.textContent?.includes("nope"));
    model.message({ type: "details", req: req.req, row: "fetch#2", attempt: 1, found: true,
      input: "1", output: "<img src=x onerror=alert(1)> the full value", error: null, truncated: false });
    assert.ok(details.textContent?.includes("the full value"));
    assert.equal(el.querySelectorAll("img").length, 0);
    /** @type {HTMLElement} */ (el.querySelector(".pw-tl-details-close")).click();
    assert.equal(details.hidden, true);
    cleanup();
  });

  it("applies deltas from messages and asks for a resync on a mismatch", async () => {
    const state = makeState(2);
    const { el, model, cleanup } = mount(state);
    const added = stepRow("store#1", T0 + 2, T0 + 3);
    model.message({ type: "delta", delta: {
      base: state.seq, seq: state.seq + 2, rows: { "store#1": added }, added: ["store#1"],
      progress: { done: 3, failed: 0, total: 3 },
    } });
    await nextFrame();
    assert.ok(el.querySelector('.pw-tl-seg[data-row="store#1"]'));
    assert.equal(el.querySelector(".pw-tl-ptext")?.textContent, "3 done / 3 total");
    model.message({ type: "delta", delta: { base: 1, seq: 99, rows: {} } });
    assert.deepEqual(model.sent, [{ type: "resync" }]);
    model.set("state", makeState(1));
    await nextFrame();
    assert.equal(el.querySelectorAll(".pw-tl-canvas .pw-tl-row").length, 1);
    model.message({ type: "state", state: makeState(4) });
    await nextFrame();
    assert.equal(el.querySelectorAll(".pw-tl-canvas .pw-tl-row").length, 4);
    cleanup();
  });

  it("throttles redraws to one per frame", async () => {
    const state = makeState(2);
    const { el, model, cleanup } = mount(state);
    let seq = state.seq;
    for (let i = 0; i < 50; i++) {
      model.message({ type: "delta", delta: { base: seq, seq: seq + 1, rows: {}, progress: { done: i, total: 50 } } });
      seq += 1;
    }
    assert.equal(el.querySelector(".pw-tl-ptext")?.textContent, "2 done / 2 total", "not drawn yet");
    await nextFrame();
    assert.equal(el.querySelector(".pw-tl-ptext")?.textContent, "49 done / 50 total");
    cleanup();
  });

  it("draws a live run up to its clock and marks open segments", () => {
    const state = makeState(2);
    state.run = { ...state.run, status: "running", end: null };
    state.rows[2] = stepRow("fetch#2", T0 + 1, T0 + 2, { end: null, status: "running", output: null });
    state.rows[2].status = "running";
    const { el, cleanup } = mount(state);
    const bar = /** @type {HTMLElement} */ (el.querySelector('.pw-tl-seg[data-row="fetch#2"]'));
    assert.ok(bar.classList.contains("pw-tl-seg--open"));
    assert.equal(bar.style.backgroundColor, "rgb(47, 127, 216)");
    cleanup();
  });

  it("renders a 1,000-step state quickly and draws the rows scrolled to", () => {
    const state = makeState(1000, { sleep: true });
    const t0 = performance.now();
    const { el, document, cleanup } = mount(state);
    const ms = performance.now() - t0;
    console.log(`first render of 1,000 steps: ${ms.toFixed(1)} ms`);
    assert.ok(ms < 1000, `took ${ms} ms`);
    const rows = el.querySelectorAll(".pw-tl-canvas .pw-tl-row");
    assert.ok(rows.length > 10 && rows.length < 60, `virtualised: ${rows.length} rows in the DOM`);
    assert.equal(/** @type {HTMLElement} */ (el.querySelector(".pw-tl-canvas")).style.height, `${1001 * 22}px`);
    const body = /** @type {HTMLElement} */ (el.querySelector(".pw-tl-body"));
    Object.defineProperty(body, "scrollTop", { value: 22 * 900, configurable: true });
    const t1 = performance.now();
    body.dispatchEvent(new document.defaultView.Event("scroll"));
    return nextFrame().then(() => {
      console.log(`redraw after scroll: ${(performance.now() - t1).toFixed(1)} ms (incl. frame wait)`);
      assert.ok(el.querySelector('.pw-tl-seg[data-row="fetch#900"]'));
      assert.equal(el.querySelector('.pw-tl-seg[data-row="fetch#3"]'), null);
      cleanup();
    });
  });

  it("cleans up its listeners and DOM", () => {
    const { el, model, cleanup } = mount(makeState(2));
    assert.equal(model.listenerCount(), 2);
    cleanup();
    assert.equal(model.listenerCount(), 0);
    assert.equal(el.children.length, 0);
  });
});

describe("child runs", () => {
  it("links a child row to its run and a child run to its parent", async () => {
    const state = makeState(2);
    state.rows.push({ ...stepRow("report#1", T0 + 1, T0 + 2), kind: "child", run_id: "r1/report#1" });
    state.run.parent_run_id = "p<b>0</b>";
    const { el, model, cleanup } = mount(state);
    await nextFrame();
    const parent = /** @type {HTMLElement} */ (el.querySelector(".pw-tl-parent"));
    assert.equal(parent.hidden, false);
    /** @type {HTMLElement} */ (el.querySelector('.pw-tl-seg[data-row="report#1"]')).click();
    const open = /** @type {HTMLElement} */ (el.querySelector(".pw-tl-details .pw-tl-open"));
    assert.ok(open.textContent?.includes("r1/report#1"));
    open.click();
    assert.deepEqual(model.sent, [{ type: "open", run_id: "r1/report#1" }]);
    assert.equal(/** @type {HTMLElement} */ (el.querySelector(".pw-tl-details")).hidden, true);
    parent.click();
    assert.deepEqual(model.sent[1], { type: "open", run_id: "p<b>0</b>" });
    const chained = makeState(2);
    chained.run.continued_from = "before";
    chained.run.continued_as = "after";
    model.set("state", chained);
    await nextFrame();
    const links = [...el.querySelectorAll(".pw-tl-parent")].filter((b) => !(/** @type {HTMLElement} */ (b)).hidden);
    assert.deepEqual(links.map((b) => b.textContent), ["‹ previous run", "next run ›"]);
    /** @type {HTMLElement} */ (links[1]).click();
    assert.deepEqual(model.sent[2], { type: "open", run_id: "after" });
    assert.equal(el.querySelectorAll("b").length, 0);
    const forked = makeState(2);
    forked.run.forked_from = "source-run";
    forked.run.previous_attempt = "source-run~1";
    model.set("state", forked);
    await nextFrame();
    const fork = [...el.querySelectorAll(".pw-tl-parent")].filter((b) => !(/** @type {HTMLElement} */ (b)).hidden);
    assert.deepEqual(fork.map((b) => b.textContent), ["‹ forked from", "‹ previous attempt"]);
    /** @type {HTMLElement} */ (fork[0]).click();
    assert.deepEqual(model.sent[3], { type: "open", run_id: "source-run" });
    model.set("state", makeState(1));
    await nextFrame();
    assert.equal(parent.hidden, true, "no parent: no link");
    cleanup();
  });
});
