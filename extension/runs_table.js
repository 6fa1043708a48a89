// Runs-table widget for pyworkflow_nb: an anywidget ES module, no framework, no build.
//
// Trait `runs`: a list of {run_id, workflow, status, created_at, finished_at, error}
// (times as epoch seconds or ISO strings). Buttons send
// {type: "action", action: "timeline" | "cancel" | "terminate" | "pause" | "resume" | "retry",
// run_id} and
// {type: "action", action: "send_event", run_id, event, payload}; the kernel may answer
// {type: "action_result", action, run_id, ok, message}, shown as a status line.
// Trait `state`: the timeline of the run picked with "timeline" (empty until then), drawn
// under the table by timeline.js's TimelineView on this same model; anywidget gives a
// widget one module, so the kernel sends timeline.js's source once in `_timeline_esm`.
// The table itself draws before that module loads, so a few helpers repeat timeline.js.
//
// User data is only ever written with textContent / attribute setters, never as HTML.

/**
 * @typedef {{run_id: string, workflow?: string|null, status?: string|null,
 *   created_at?: number|string|null, finished_at?: number|string|null,
 *   error?: {type?: string, message?: string}|string|null}} RunRow
 * @typedef {{get(name: string): any, on(ev: string, cb: Function): void,
 *   off(ev?: string, cb?: Function): void, send(content: any): void}} Model
 */

/** Fill colour per run status (vocabulary.json lists the statuses; a test checks both). */
export const STATUS_COLORS = Object.freeze({
  running: "#2f7fd8", completed: "#2e9e5b", failed: "#d64545", retrying: "#e39b2d",
  sleeping: "#8e7cc3", waiting: "#3aa8ad", cancelled: "#8a8a8a", pending: "#c4c4c4",
  waiting_for_definition: "#c4c4c4", terminated: "#5b5b5b", paused: "#c9a227",
  continued: "#6b8fb3",
});
/** Statuses a run never leaves (vocabulary.json's terminal_statuses). */
export const TERMINAL_STATUSES = Object.freeze(
  ["cancelled", "completed", "continued", "failed", "terminated"]);
const TERMINAL = new Set(TERMINAL_STATUSES);

/**
 * Colour for a status; unknown statuses get a neutral grey.
 * @param {string|null|undefined} status
 */
export function statusColor(status) {
  return status && Object.prototype.hasOwnProperty.call(STATUS_COLORS, status)
    ? STATUS_COLORS[/** @type {keyof typeof STATUS_COLORS} */ (status)]
    : "#9e9e9e";
}

/**
 * A run-row time as epoch seconds (numbers as-is, ISO strings parsed; naive ISO
 * strings are taken as UTC, as the store writes them), or NaN.
 * @param {number|string|null|undefined} value
 * @returns {number}
 */
export function toEpoch(value) {
  if (value == null || value === "") return NaN;
  if (typeof value === "number") return value;
  let text = String(value).trim();
  if (/^\d{4}-\d\d-\d\d[ T]\d\d:\d\d(:\d\d(\.\d+)?)?$/.test(text)) text = `${text.replace(" ", "T")}Z`;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? NaN : ms / 1000;
}

/** @param {number} n */
const pad2 = (n) => String(n).padStart(2, "0");

/**
 * "YYYY-MM-DD HH:MM:SS" in local time, or "".
 * @param {number|string|null|undefined} value
 */
export function formatTime(value) {
  const t = toEpoch(value);
  if (Number.isNaN(t)) return value == null ? "" : String(value);
  const d = new Date(t * 1000);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} `
    + `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

/**
 * Short human duration (same rules as timeline.js formatDuration).
 * @param {number} seconds
 */
export function formatDuration(seconds) {
  const s = Math.max(0, Number(seconds) || 0);
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 60) {
    const txt = s.toFixed(1);
    return `${txt.endsWith(".0") ? txt.slice(0, -2) : txt} s`;
  }
  const whole = Math.floor(s);
  if (whole < 3600) {
    const m = Math.floor(whole / 60), sec = whole % 60;
    return sec ? `${m} min ${sec} s` : `${m} min`;
  }
  if (whole < 86400) {
    const mins = Math.floor(whole / 60);
    return mins % 60 ? `${Math.floor(mins / 60)} h ${mins % 60} min` : `${Math.floor(mins / 60)} h`;
  }
  const hours = Math.floor(whole / 3600);
  return hours % 24 ? `${Math.floor(hours / 24)} d ${hours % 24} h` : `${Math.floor(hours / 24)} d`;
}

/**
 * An error value as one line of text.
 * @param {RunRow["error"]} err
 */
export function errorText(err) {
  if (!err) return "";
  if (typeof err === "string") return err;
  return `${err.type || "Error"}: ${err.message ?? ""}`;
}

/**
 * Runs matching the filters (workflow: case-insensitive substring; status: exact,
 * "" for all), newest first by created_at.
 * @param {RunRow[]} runs
 * @param {{workflow?: string, status?: string}} [filters]
 * @returns {RunRow[]}
 */
export function filterRuns(runs, filters = {}) {
  const wf = (filters.workflow || "").trim().toLowerCase();
  const status = filters.status || "";
  const out = (runs || []).filter((r) =>
    (!wf || String(r.workflow ?? "").toLowerCase().includes(wf))
    && (!status || r.status === status));
  const key = (/** @type {RunRow} */ r) => {
    const t = toEpoch(r.created_at);
    return Number.isNaN(t) ? -Infinity : t;
  };
  return out.sort((a, b) => key(b) - key(a));
}

/**
 * Which actions a run's status allows.
 * @param {string|null|undefined} status
 * @returns {{timeline: boolean, cancel: boolean, terminate: boolean, pause: boolean,
 *   resume: boolean, retry: boolean, send_event: boolean}}
 */
export function actionsFor(status) {
  const done = TERMINAL.has(status || "");
  return {
    timeline: true,
    cancel: !done,
    terminate: !done,
    pause: !done && status !== "paused",
    resume: status === "paused",
    retry: status === "failed",  // the engine retries failed runs only
    send_event: !done,
  };
}

/**
 * Parse the payload text of the send-event form: empty means null, otherwise JSON.
 * @param {string} text
 * @returns {{ok: true, value: any} | {ok: false, error: string}}
 */
export function parsePayload(text) {
  const t = text.trim();
  if (!t) return { ok: true, value: null };
  try {
    return { ok: true, value: JSON.parse(t) };
  } catch (e) {
    return { ok: false, error: `payload is not JSON: ${/** @type {Error} */ (e).message}` };
  }
}

/**
 * @param {Document} doc
 * @param {string} tag
 * @param {string|null} [cls]
 * @param {string|null} [text]
 * @returns {HTMLElement}
 */
function h(doc, tag, cls, text) {
  const node = doc.createElement(tag);
  if (cls) node.className = cls;
  if (text != null) node.textContent = String(text);
  return node;
}

const raf = (/** @type {FrameRequestCallback} */ cb) =>
  typeof requestAnimationFrame === "function"
    ? requestAnimationFrame(cb)
    : /** @type {number} */ (/** @type {unknown} */ (setTimeout(() => cb(Date.now()), 16)));
const cancelRaf = (/** @type {number} */ id) =>
  typeof cancelAnimationFrame === "function" ? cancelAnimationFrame(id) : clearTimeout(id);

/** @type {Map<string, Promise<any>>} */
const loaded = new Map();

/**
 * Import an ES module from its source text: through a blob URL as anywidget does, or a data
 * URL where blob modules cannot load (Node).
 * @param {string} src
 * @returns {Promise<any>}
 */
export function importSource(src) {
  let mod = loaded.get(src);
  if (!mod) {
    mod = importBlob(src).catch(
      () => import(`data:text/javascript;charset=utf-8,${encodeURIComponent(src)}`));
    loaded.set(src, mod);
  }
  return mod;
}

/** @param {string} src */
async function importBlob(src) {
  const url = URL.createObjectURL(new Blob([src], { type: "text/javascript" }));
  try {
    return await import(url);
  } finally {
    URL.revokeObjectURL(url);
  }
}

const ACTION_LABELS = /** @type {const} */ ([
  ["timeline", "timeline"], ["cancel", "cancel"], ["terminate", "terminate"], ["pause", "pause"],
  ["resume", "resume"], ["retry", "retry"], ["send_event", "send event"],
]);
const COLUMNS = ["run", "workflow", "status", "created", "finished", "took", "error", ""];

/** One view of a runs-table model. */
export class RunsTableView {
  /**
   * @param {Model} model
   * @param {HTMLElement} el
   */
  constructor(model, el) {
    this.model = model;
    this.el = el;
    this.doc = el.ownerDocument;
    this.frame = 0;
    /** @type {{runId: string, node: HTMLElement} | null} */
    this.form = null;
    /** @type {any} the picked run's TimelineView, once its module loaded */
    this.timeline = null;
    this.loadingTimeline = false;
    this.destroyed = false;
    this.build();
    this.onRuns = () => this.schedule();
    this.onState = () => this.showTimeline();
    this.onMsg = (/** @type {any} */ msg) => {
      if (msg && msg.type === "action_result") {
        const text = `${msg.action} ${msg.run_id}: ${msg.message || (msg.ok ? "done" : "failed")}`;
        this.statusLine.textContent = text;
        this.statusLine.classList.toggle("pw-rt-status-line--error", msg.ok === false);
      }
    };
    this.onInput = () => this.schedule();
    this.onClick = (/** @type {Event} */ ev) => this.handleClick(ev);
    model.on("change:runs", this.onRuns);
    model.on("change:state", this.onState);
    model.on("msg:custom", this.onMsg);
    this.wfInput.addEventListener("input", this.onInput);
    this.statusSelect.addEventListener("change", this.onInput);
    this.root.addEventListener("click", this.onClick);
    this.draw();
    this.showTimeline();
  }

  /** Draw the picked run's timeline under the table once there is one. */
  showTimeline() {
    const state = this.model.get("state");
    if (!state || !state.run || this.timeline || this.loadingTimeline) return;
    this.loadingTimeline = true;
    importSource(this.model.get("_timeline_esm") || "").then((mod) => {
      this.loadingTimeline = false;
      if (!this.destroyed) this.timeline = new mod.TimelineView(this.model, this.timelineBox);
    }, (/** @type {any} */ err) => {
      this.loadingTimeline = false;
      this.statusLine.textContent = `the timeline could not load: ${err}`;
      this.statusLine.classList.add("pw-rt-status-line--error");
    });
  }

  build() {
    const d = this.doc;
    this.root = h(d, "div", "pw-rt");
    const bar = h(d, "div", "pw-rt-toolbar");
    this.wfInput = /** @type {HTMLInputElement} */ (h(d, "input", "pw-rt-filter-workflow"));
    this.wfInput.type = "search";
    this.wfInput.placeholder = "workflow";
    this.wfInput.setAttribute("aria-label", "filter by workflow");
    this.statusSelect = /** @type {HTMLSelectElement} */ (h(d, "select", "pw-rt-filter-status"));
    this.statusSelect.setAttribute("aria-label", "filter by status");
    this.count = h(d, "span", "pw-rt-count");
    bar.append(this.wfInput, this.statusSelect, this.count);
    this.statusLine = h(d, "div", "pw-rt-status-line");
    const scroll = h(d, "div", "pw-rt-scroll");
    const table = h(d, "table");
    const thead = h(d, "thead");
    const tr = h(d, "tr");
    for (const c of COLUMNS) tr.append(h(d, "th", null, c));
    thead.append(tr);
    this.tbody = h(d, "tbody");
    table.append(thead, this.tbody);
    scroll.append(table);
    this.timelineBox = h(d, "div", "pw-rt-timeline");
    this.root.append(bar, scroll, this.statusLine, this.timelineBox);
    this.el.append(this.root);
  }

  schedule() {
    if (this.frame) return;
    this.frame = raf(() => {
      this.frame = 0;
      this.draw();
    });
  }

  /** @returns {RunRow[]} */
  runs() {
    const runs = this.model.get("runs");
    return Array.isArray(runs) ? runs : [];
  }

  /** Keep the status options in step with the statuses present. */
  syncStatusOptions(/** @type {RunRow[]} */ runs) {
    const d = this.doc;
    const current = this.statusSelect.value;
    const statuses = [...new Set(runs.map((r) => r.status).filter(Boolean))].sort();
    if (current && !statuses.includes(current)) statuses.push(current);
    const wanted = ["", ...statuses].join("\n");
    if (this.statusOptions === wanted) return;
    this.statusOptions = wanted;
    const opts = [["", "all statuses"], ...statuses.map((s) => [s, s])].map(([value, label]) => {
      const o = /** @type {HTMLOptionElement} */ (h(d, "option", null, label));
      o.value = /** @type {string} */ (value);
      return o;
    });
    this.statusSelect.replaceChildren(...opts);
    this.statusSelect.value = current;
  }

  draw() {
    const d = this.doc;
    const all = this.runs();
    this.syncStatusOptions(all);
    const runs = filterRuns(all, { workflow: this.wfInput.value, status: this.statusSelect.value });
    this.count.textContent = runs.length === all.length
      ? `${all.length} runs` : `${runs.length} of ${all.length} runs`;
    const frag = d.createDocumentFragment();
    for (const r of runs) {
      frag.append(this.rowEl(r));
      if (this.form && this.form.runId === r.run_id) frag.append(this.form.node);
    }
    if (!runs.length) {
      const tr = h(d, "tr");
      const td = h(d, "td", "pw-rt-empty", all.length ? "no runs match" : "no runs");
      td.setAttribute("colspan", String(COLUMNS.length));
      tr.append(td);
      frag.append(tr);
    }
    this.tbody.replaceChildren(frag);
  }

  /** @param {RunRow} r */
  rowEl(r) {
    const d = this.doc;
    const tr = h(d, "tr", "pw-rt-row");
    tr.dataset.runId = r.run_id;
    const id = h(d, "code", null, String(r.run_id).length > 14 ? `${String(r.run_id).slice(0, 13)}…` : r.run_id);
    id.title = r.run_id;
    const idCell = h(d, "td");
    idCell.append(id);
    const badge = h(d, "span", "pw-rt-badge", r.status ?? "");
    badge.style.backgroundColor = statusColor(r.status);
    const statusCell = h(d, "td");
    statusCell.append(badge);
    const c = toEpoch(r.created_at), f = toEpoch(r.finished_at);
    const took = Number.isNaN(c) || Number.isNaN(f) ? "" : formatDuration(f - c);
    const err = errorText(r.error);
    const errCell = h(d, "td", "pw-rt-error", err);
    if (err) errCell.title = err.slice(0, 2000);
    const actions = h(d, "td", "pw-rt-actions");
    const allowed = actionsFor(r.status);
    for (const [action, label] of ACTION_LABELS) {
      const b = /** @type {HTMLButtonElement} */ (h(d, "button", "pw-rt-action", label));
      b.type = "button";
      b.dataset.action = action;
      b.dataset.runId = r.run_id;
      b.disabled = !allowed[action];
      actions.append(b);
    }
    tr.append(idCell, h(d, "td", null, r.workflow ?? ""), statusCell,
      h(d, "td", null, formatTime(r.created_at)), h(d, "td", null, formatTime(r.finished_at)),
      h(d, "td", null, took), errCell, actions);
    return tr;
  }

  /** @param {Event} ev */
  handleClick(ev) {
    const target = /** @type {Element|null} */ (ev.target);
    if (!target || typeof target.closest !== "function") return;
    const b = /** @type {HTMLButtonElement|null} */ (target.closest("button"));
    if (!b || b.disabled) return;
    const runId = b.dataset.runId || "";
    const action = b.dataset.action;
    if (action === "send_event") {
      this.openForm(runId);
    } else if (action === "form-cancel") {
      this.form = null;
      this.draw();
    } else if (action === "form-send") {
      this.submitForm();
    } else if (action) {
      this.model.send({ type: "action", action, run_id: runId });
      this.statusLine.textContent = `${action} ${runId}…`;
      this.statusLine.classList.remove("pw-rt-status-line--error");
    }
  }

  /** Show the send-event form under a run's row. @param {string} runId */
  openForm(runId) {
    const d = this.doc;
    const tr = h(d, "tr", "pw-rt-form-row");
    const td = h(d, "td");
    td.setAttribute("colspan", String(COLUMNS.length));
    const box = h(d, "div", "pw-rt-form");
    const name = /** @type {HTMLInputElement} */ (h(d, "input", "pw-rt-event-name"));
    name.placeholder = "event name";
    name.setAttribute("aria-label", "event name");
    const payload = /** @type {HTMLTextAreaElement} */ (h(d, "textarea", "pw-rt-event-payload"));
    payload.placeholder = "payload (JSON, optional)";
    payload.setAttribute("aria-label", "payload as JSON");
    const send = /** @type {HTMLButtonElement} */ (h(d, "button", null, "send"));
    send.type = "button";
    send.dataset.action = "form-send";
    send.dataset.runId = runId;
    const cancel = /** @type {HTMLButtonElement} */ (h(d, "button", null, "cancel"));
    cancel.type = "button";
    cancel.dataset.action = "form-cancel";
    const err = h(d, "span", "pw-rt-form-error");
    box.append(name, payload, send, cancel, err);
    td.append(box);
    tr.append(td);
    this.form = { runId, node: tr };
    this.draw();
    if (typeof name.focus === "function") name.focus();
  }

  submitForm() {
    if (!this.form) return;
    const node = this.form.node;
    const name = /** @type {HTMLInputElement} */ (node.querySelector(".pw-rt-event-name"));
    const payload = /** @type {HTMLTextAreaElement} */ (node.querySelector(".pw-rt-event-payload"));
    const err = /** @type {HTMLElement} */ (node.querySelector(".pw-rt-form-error"));
    const event = name.value.trim();
    if (!event) {
      err.textContent = "give the event a name";
      return;
    }
    const parsed = parsePayload(payload.value);
    if (!parsed.ok) {
      err.textContent = parsed.error;
      return;
    }
    const runId = this.form.runId;
    this.model.send({ type: "action", action: "send_event", run_id: runId, event, payload: parsed.value });
    this.statusLine.textContent = `send_event ${event} to ${runId}…`;
    this.form = null;
    this.draw();
  }

  destroy() {
    this.destroyed = true;
    if (this.timeline) this.timeline.destroy();
    if (this.frame) cancelRaf(this.frame);
    this.frame = 0;
    this.model.off("change:runs", this.onRuns);
    this.model.off("change:state", this.onState);
    this.model.off("msg:custom", this.onMsg);
    this.wfInput.removeEventListener("input", this.onInput);
    this.statusSelect.removeEventListener("change", this.onInput);
    this.root.removeEventListener("click", this.onClick);
    this.root.remove();
  }
}

export default {
  /**
   * anywidget entry point.
   * @param {{model: Model, el: HTMLElement}} ctx
   * @returns {() => void} cleanup
   */
  render({ model, el }) {
    const view = new RunsTableView(model, el);
    return () => view.destroy();
  },
};
