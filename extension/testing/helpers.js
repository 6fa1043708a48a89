// Shared test helpers: a fake anywidget model, a DOM, and state builders.
import { JSDOM } from "jsdom";

/** A minimal stand-in for an anywidget model. */
export class FakeModel {
  /** @param {Record<string, any>} traits */
  constructor(traits) {
    this.traits = { ...traits };
    /** @type {Map<string, Set<Function>>} */
    this.handlers = new Map();
    /** @type {any[]} */
    this.sent = [];
  }
  /** @param {string} name */
  get(name) {
    return this.traits[name];
  }
  /** @param {string} name @param {any} value */
  set(name, value) {
    this.traits[name] = value;
    this.emit(`change:${name}`, value);
  }
  /** @param {string} ev @param {Function} cb */
  on(ev, cb) {
    if (!this.handlers.has(ev)) this.handlers.set(ev, new Set());
    this.handlers.get(ev)?.add(cb);
  }
  /** @param {string} ev @param {Function} cb */
  off(ev, cb) {
    this.handlers.get(ev)?.delete(cb);
  }
  /** @param {string} ev @param {...any} args */
  emit(ev, ...args) {
    for (const cb of this.handlers.get(ev) || []) cb(...args);
  }
  /** @param {any} content */
  send(content) {
    this.sent.push(content);
  }
  /** Deliver a custom message from the kernel. @param {any} msg */
  message(msg) {
    this.emit("msg:custom", msg, []);
  }
  listenerCount() {
    let n = 0;
    for (const s of this.handlers.values()) n += s.size;
    return n;
  }
}

/** A fresh DOM and a container element in it. */
export function makeDom() {
  const dom = new JSDOM("<!doctype html><html><body><div id=root></div></body></html>");
  const el = /** @type {HTMLElement} */ (dom.window.document.getElementById("root"));
  return { dom, el, window: dom.window, document: dom.window.document };
}

/** Wait for throttled (frame) redraws. */
export const nextFrame = () => new Promise((resolve) => setTimeout(resolve, 40));

export const T0 = 1_700_000_000;

/**
 * A finished step row.
 * @param {string} id @param {number} start @param {number} end
 * @param {Partial<import("../timeline.js").Segment>} [extra]
 */
export function stepRow(id, start, end, extra = {}) {
  const [name, n] = id.split("#");
  return {
    id, kind: "step", name, n: Number(n), label: Number(n) > 1 ? `${name} #${n}` : name,
    status: extra.status || "completed",
    segments: [{
      attempt: 1, start, end, status: "completed", until: null, input: "1", output: "2",
      error: null, truncated: false, ...extra,
    }],
  };
}

/**
 * A state with `n` one-second steps, optionally a 3 h sleep in the middle.
 * @param {number} n @param {{sleep?: boolean}} [opts]
 */
export function makeState(n, opts = {}) {
  const rows = [];
  let t = T0;
  /** @type {any[]} */
  const gaps = [];
  for (let i = 1; i <= n; i++) {
    rows.push(stepRow(`fetch#${i}`, t, t + 1, { input: `${i}, "x"`, output: `{"v": ${i}}` }));
    t += 1;
    if (opts.sleep && i === Math.floor(n / 2)) {
      rows.push({
        id: "sleep#1", kind: "sleep", name: "sleep", n: 1, label: "sleep", status: "completed",
        segments: [{ attempt: null, start: t, end: t + 10800, status: "completed", until: t + 10800,
          input: null, output: null, error: null, truncated: false }],
      });
      gaps.push({ start: t, end: t + 10800, verb: "slept", label: "slept 3 h", open: false });
      t += 10800;
    }
  }
  const wf = {
    id: "workflow", kind: "workflow", name: "workflow", n: 1, label: "workflow", status: "completed",
    segments: [{ attempt: null, start: T0, end: t, status: "completed", until: null, input: "",
      output: "null", error: null, truncated: false }],
  };
  return {
    v: 1, seq: n * 2 + 2, now: t,
    run: { run_id: "r1", workflow: "wf", version: "h", status: "completed", start: T0, end: t,
      cancel_requested: false, error: null },
    rows: [wf, ...rows],
    markers: [{ ts: T0 + 2, kind: "event", label: "go", text: '{"a": 1}' }],
    gaps,
    progress: { done: n, failed: 0, total: n },
  };
}
