// Run-timeline widget for pyworkflow_nb: an anywidget ES module, no framework, no build.
//
// The model's `state` trait holds the state built by
// pyworkflow_nb/notebook/timeline_data.py (build_state); updates arrive as custom
// messages {type: "delta", delta} (diff_state) or {type: "state", state}, or as a
// change of the trait. See timeline_data.py's docstring for the formats and protocol.
//
// User data is only ever written with textContent / attribute setters, never as HTML.

/**
 * @typedef {{type: string, message: string, traceback?: string|null}} ErrorInfo
 * @typedef {{attempt: number|null, start: number, end: number|null, status: string,
 *   until?: number|null, input?: string|null, output?: string|null,
 *   error?: ErrorInfo|null, truncated?: boolean}} Segment
 * @typedef {{id: string, kind: string, name?: string, n?: number, label: string,
 *   run_id?: string|null, status: string, segments: Segment[]}} Row
 * @typedef {{ts: number, kind: string, label: string, text?: string|null}} Marker
 * @typedef {{start: number, end: number, verb?: string, label: string, open?: boolean}} Gap
 * @typedef {{run_id?: string|null, workflow?: string|null, status: string,
 *   start: number|null, end: number|null, error?: ErrorInfo|null,
 *   cancel_requested?: boolean, parent_run_id?: string|null, continued_from?: string|null,
 *   forked_from?: string|null, previous_attempt?: string|null,
 *   continued_as?: string|null}} RunInfo
 * @typedef {{v?: number, seq?: number, now: number, run: RunInfo, rows: Row[],
 *   markers: Marker[], gaps: Gap[], progress: {done: number, total: number, failed?: number},
 *   live?: boolean}} State
 * @typedef {{start: number, end: number, x0: number, x1: number, gap: boolean}} Piece
 * @typedef {{base?: number|null, seq?: number, rows?: Record<string, Row>, added?: string[],
 *   order?: string[], markers_from?: number, markers?: Marker[], run?: RunInfo,
 *   gaps?: Gap[], progress?: State["progress"], now?: number, v?: number}} Delta
 * @typedef {{get(name: string): any, set?(name: string, v: any): void,
 *   on(ev: string, cb: Function): void, off(ev?: string, cb?: Function): void,
 *   send(content: any): void}} Model
 */

/** Fill colour per status (static_timeline.STATUS_COLORS holds the same; vocabulary.json lists the statuses). */
export const STATUS_COLORS = Object.freeze({
  running: "#2f7fd8",
  completed: "#2e9e5b",
  failed: "#d64545",
  retrying: "#e39b2d",
  sleeping: "#8e7cc3",
  waiting: "#3aa8ad",
  cancelled: "#8a8a8a",
  terminated: "#5b5b5b",
  continued: "#6b8fb3",
  paused: "#c9a227",
  pending: "#c4c4c4",
  waiting_for_definition: "#c4c4c4",
});
const UNKNOWN_COLOR = "#9e9e9e";
/** Statuses a run never leaves (vocabulary.json's terminal_statuses; a test checks both). */
export const TERMINAL_STATUSES = Object.freeze(
  ["cancelled", "completed", "continued", "failed", "terminated"]);
const TERMINAL = new Set(TERMINAL_STATUSES);

/** Layout constants (timeline_layout.GAP_PX / GAP_SHARE hold the same). */
export const GAP_PX = 60;
export const GAP_SHARE = 0.3;
export const ROW_H = 22;
export const LABEL_W = 170;
/**
 * The header's links to related runs: the RunInfo field naming each, and its label. Those
 * before the title lead back, the last one forward.
 * @type {[keyof RunInfo, string][]}
 */
const RUN_LINKS = [["parent_run_id", "‹ parent run"], ["continued_from", "‹ previous run"],
  ["forked_from", "‹ forked from"], ["previous_attempt", "‹ previous attempt"],
  ["continued_as", "next run ›"]];

const NICE_STEPS = [
  0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800,
  3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800,
];
const MIN_TICK_PX = 70;
/** Sub-second labels ("HH:MM:SS.f") are longer: their ticks stand further apart. */
const FINE_TICK_PX = 110;
const OVERSCAN = 8;
const DEFAULT_VIEW_H = 440;
const DEFAULT_WIDTH = 900;

/**
 * Colour for a status; unknown statuses get a neutral grey.
 * @param {string} status
 * @returns {string}
 */
export function statusColor(status) {
  return Object.prototype.hasOwnProperty.call(STATUS_COLORS, status)
    ? STATUS_COLORS[/** @type {keyof typeof STATUS_COLORS} */ (status)]
    : UNKNOWN_COLOR;
}

/**
 * Short human duration, same rules as timeline_text.format_duration:
 * "850 ms", "12.3 s", "4 min 2 s", "3 h 5 min", "2 d 5 h".
 * @param {number} seconds
 * @returns {string}
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
    const h = Math.floor(mins / 60), m = mins % 60;
    return m ? `${h} h ${m} min` : `${h} h`;
  }
  const hours = Math.floor(whole / 3600);
  const d = Math.floor(hours / 24), h = hours % 24;
  return h ? `${d} d ${h} h` : `${d} d`;
}

/**
 * formatDuration cut to its largest unit ("3 h", "4 min"), for gap labels
 * (timeline_text.short_duration).
 * @param {number} seconds
 */
export function shortDuration(seconds) {
  return formatDuration(seconds).split(" ").slice(0, 2).join(" ");
}

/** @param {number} n */
const pad2 = (n) => String(n).padStart(2, "0");

/**
 * Local clock text for an epoch-seconds time: "HH:MM:SS" ("HH:MM:SS.f" for sub-second
 * axis steps, "HH:MM" / "MM-DD" for coarse ones), or "YYYY-MM-DD HH:MM:SS" with
 * `step = "full"`.
 * @param {number|null|undefined} ts
 * @param {number|"full"} [step]
 * @returns {string}
 */
export function formatClock(ts, step = 1) {
  if (ts == null || !Number.isFinite(ts)) return "";
  const d = new Date(ts * 1000);
  const hms = `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
  if (step === "full") {
    return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${hms}`;
  }
  if (step >= 86400) return `${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}`;
  if (step >= 60) return hms.slice(0, 5);
  if (step >= 1) return hms;
  const digits = step >= 0.1 ? 1 : step >= 0.01 ? 2 : 3;
  const r = new Date(Math.round(ts * 10 ** digits) * 10 ** (3 - digits));
  const whole = `${pad2(r.getHours())}:${pad2(r.getMinutes())}:${pad2(r.getSeconds())}`;
  return `${whole}.${String(r.getMilliseconds()).padStart(3, "0").slice(0, digits)}`;
}

/**
 * The time domain drawn: [run.start, run.end or now].
 * @param {State} state
 * @param {number|null} [now] overrides state.now for a live run
 * @returns {[number, number]}
 */
export function domain(state, now = null) {
  const run = state.run || /** @type {RunInfo} */ ({});
  let t0 = run.start;
  if (t0 == null) t0 = state.now || 0;
  let t1 = run.end;
  if (t1 == null) t1 = now != null ? now : (state.now ?? t0);
  return [t0, Math.max(t1, t0)];
}

/**
 * Map real time to x positions with gaps compressed: the same algorithm as
 * timeline_layout.layout (see its docstring). Each gap gets
 * min(GAP_PX, GAP_SHARE * width / n) px, the rest of the width is linear in time.
 * @param {State} state
 * @param {number} width
 * @param {number|null} [now] a live view's clock: open gaps and the domain reach it
 * @returns {Piece[]}
 */
export function layout(state, width, now = null) {
  const [t0, t1] = domain(state, now);
  /** @type {[number, number][]} */
  const gaps = [];
  const sorted = [...(state.gaps || [])].sort((a, b) => a.start - b.start);
  for (const g of sorted) {
    let a = Math.max(g.start, t0);
    const b = g.open && now != null ? t1 : Math.min(g.end, t1);
    if (gaps.length && a < gaps[gaps.length - 1][1]) a = gaps[gaps.length - 1][1];
    if (b > a) gaps.push([a, b]);
  }
  const w = Number(width);
  if (t1 <= t0) return [{ start: t0, end: t1, x0: 0, x1: w, gap: false }];
  const n = gaps.length;
  let gapTime = 0;
  for (const [a, b] of gaps) gapTime += b - a;
  const busyTime = (t1 - t0) - gapTime;
  let gpx, scale;
  if (n && busyTime <= 1e-9) {
    gpx = w / n;
    scale = 0;
  } else {
    gpx = n ? Math.min(GAP_PX, GAP_SHARE * w / n) : 0;
    scale = (w - n * gpx) / busyTime;
  }
  /** @type {Piece[]} */
  const pieces = [];
  let x = 0, t = t0;
  for (const [a, b] of gaps) {
    if (a > t) {
      const x1 = x + (a - t) * scale;
      pieces.push({ start: t, end: a, x0: x, x1, gap: false });
      x = x1;
    }
    pieces.push({ start: a, end: b, x0: x, x1: x + gpx, gap: true });
    x += gpx;
    t = b;
  }
  if (t1 > t || !pieces.length) pieces.push({ start: t, end: t1, x0: x, x1: w, gap: false });
  else pieces[pieces.length - 1].x1 = w;
  return pieces;
}

/**
 * x position of time t under layout pieces, clamped to the ends.
 * @param {Piece[]} pieces
 * @param {number} t
 * @returns {number}
 */
export function timeToX(pieces, t) {
  if (!pieces.length) return 0;
  if (t <= pieces[0].start) return pieces[0].x0;
  let lo = 0, hi = pieces.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (pieces[mid].start <= t) lo = mid;
    else hi = mid - 1;
  }
  const p = pieces[lo];
  if (t >= p.end) return p.x1;
  const span = p.end - p.start;
  return p.x0 + (p.x1 - p.x0) * (span > 0 ? (t - p.start) / span : 0);
}

/**
 * Axis ticks for the non-gap pieces (static_timeline.axis_ticks does the same):
 * the smallest nice step at least MIN_TICK_PX (FINE_TICK_PX below a second) apart,
 * aligned to the local clock.
 * @param {Piece[]} pieces
 * @returns {{t: number, x: number, label: string}[]}
 */
export function axisTicks(pieces) {
  const first = pieces.find((p) => !p.gap && p.end > p.start);
  if (!first) return [];
  const scale = (first.x1 - first.x0) / (first.end - first.start);
  if (!(scale > 0)) return [];
  const step = NICE_STEPS.find((s) => s * scale >= (s < 1 ? FINE_TICK_PX : MIN_TICK_PX))
    ?? NICE_STEPS[NICE_STEPS.length - 1];
  const apart = (step < 1 ? FINE_TICK_PX : MIN_TICK_PX) * 0.6;
  const off = -new Date(pieces[0].start * 1000).getTimezoneOffset() * 60;
  const out = [];
  let lastX = -Infinity;
  for (const p of pieces) {
    if (p.gap) continue;
    for (let t = Math.ceil((p.start + off) / step) * step - off; t <= p.end; t += step) {
      const x = timeToX(pieces, t);
      if (x - lastX >= apart) {
        out.push({ t, x, label: formatClock(t, step) });
        lastX = x;
      }
    }
  }
  return out;
}

/**
 * Whether a delta applies to this state (its base is the state's seq).
 * @param {State} state
 * @param {Delta} delta
 */
export function canApply(state, delta) {
  return delta.base == null || state.seq == null || delta.base === state.seq;
}

/**
 * A new state: `state` with `delta` (timeline_data.diff_state) applied.
 * Rows not in the delta are kept by reference.
 * @param {State} state
 * @param {Delta} delta
 * @returns {State}
 */
export function applyDelta(state, delta) {
  /** @type {State} */
  const out = { ...state };
  for (const key of /** @type {const} */ (["v", "now", "run", "gaps", "progress"])) {
    if (key in delta) /** @type {any} */ (out)[key] = /** @type {any} */ (delta)[key];
  }
  out.seq = delta.seq ?? state.seq;
  const changed = delta.rows || {};
  const byId = new Map((state.rows || []).map((r) => [r.id, r]));
  const ids = delta.order
    ? delta.order
    : [...(state.rows || []).map((r) => r.id), ...(delta.added || [])];
  out.rows = [];
  for (const id of ids) {
    const row = Object.prototype.hasOwnProperty.call(changed, id) ? changed[id] : byId.get(id);
    if (row) out.rows.push(row);
  }
  if (delta.markers_from != null) {
    out.markers = [...(state.markers || []).slice(0, delta.markers_from), ...(delta.markers || [])];
  }
  return out;
}

/**
 * Hover text of a segment: name, attempt, status, duration (and what it waits for).
 * @param {Row} row
 * @param {Segment} seg
 * @param {number} now
 * @returns {string}
 */
export function segmentTitle(row, seg, now) {
  const parts = [row.label];
  if (row.kind === "step" && seg.attempt != null) parts.push(`attempt ${seg.attempt}`);
  parts.push(seg.status);
  const end = seg.end != null ? seg.end : now;
  parts.push(formatDuration(end - seg.start));
  if (seg.until != null && seg.end == null) parts.push(`until ${formatClock(seg.until)}`);
  if (seg.error) parts.push(`${seg.error.type}: ${String(seg.error.message).slice(0, 200)}`);
  return parts.join(" · ");
}

/**
 * Rows to draw for a scroll position: [first, last) indexes with overscan.
 * @param {number} scrollTop
 * @param {number} viewH
 * @param {number} count
 * @returns {[number, number]}
 */
export function visibleRange(scrollTop, viewH, count) {
  const first = Math.max(0, Math.floor(scrollTop / ROW_H) - OVERSCAN);
  const last = Math.min(count, Math.ceil((scrollTop + viewH) / ROW_H) + OVERSCAN);
  return [first, Math.max(first, last)];
}

// ---------------------------------------------------------------------------
// DOM helpers: text only

/**
 * Create an element with a class and optional text (set with textContent).
 * @param {Document} doc
 * @param {string} tag
 * @param {string} [cls]
 * @param {string|null} [text]
 * @returns {HTMLElement}
 */
function h(doc, tag, cls, text) {
  const node = doc.createElement(tag);
  if (cls) node.className = cls;
  if (text != null) node.textContent = String(text);
  return node;
}

/** @param {number} n */
const px = (n) => `${Math.round(n * 10) / 10}px`;

const raf = (/** @type {FrameRequestCallback} */ cb) =>
  typeof requestAnimationFrame === "function"
    ? requestAnimationFrame(cb)
    : /** @type {number} */ (/** @type {unknown} */ (setTimeout(() => cb(Date.now()), 16)));
const cancelRaf = (/** @type {number} */ id) =>
  typeof cancelAnimationFrame === "function" ? cancelAnimationFrame(id) : clearTimeout(id);
const clock = () => (typeof performance !== "undefined" ? performance.now() : Date.now());

/** @returns {State} */
function emptyState() {
  return {
    seq: 0, now: Date.now() / 1000, rows: [], markers: [], gaps: [],
    run: { status: "pending", start: null, end: null }, progress: { done: 0, total: 0 },
  };
}

let viewCounter = 0;

/** One view of a timeline model: owns its DOM, its copy of the state and its listeners. */
export class TimelineView {
  /**
   * @param {Model} model
   * @param {HTMLElement} el
   */
  constructor(model, el) {
    this.model = model;
    this.el = el;
    this.doc = el.ownerDocument;
    this.id = `v${++viewCounter}-${Math.random().toString(36).slice(2, 8)}`;
    this.reqCount = 0;
    /** @type {State} */
    this.state = model.get("state") || emptyState();
    this.receivedAt = clock();
    this.frame = 0;
    /** @type {{rowId: string, seg: number, marker: number, full: any, req: string|null, shown: any}|null} */
    this.selected = null;
    this.indexRows();
    this.build();

    this.onState = () => {
      this.state = model.get("state") || emptyState();
      this.receivedAt = clock();
      this.indexRows();
      this.schedule();
    };
    this.onMsg = (/** @type {any} */ msg) => this.handleMessage(msg);
    model.on("change:state", this.onState);
    model.on("msg:custom", this.onMsg);
    this.onScroll = () => this.schedule();
    this.body.addEventListener("scroll", this.onScroll, { passive: true });
    this.onClick = (/** @type {Event} */ ev) => this.handleClick(ev);
    this.onKey = (/** @type {KeyboardEvent} */ ev) => {
      if ((ev.key === "Enter" || ev.key === " ") && this.handleClick(ev)) ev.preventDefault();
    };
    this.root.addEventListener("click", this.onClick);
    this.root.addEventListener("keydown", this.onKey);
    this.observer = null;
    if (typeof ResizeObserver === "function") {
      this.observer = new ResizeObserver(() => this.schedule());
      this.observer.observe(this.root);
    }
    this.ticker = setInterval(() => {
      if (this.isLive()) this.schedule();
    }, 1000);
    // @ts-ignore: Node's timers can be unref'd so tests never hang on them
    if (typeof this.ticker === "object" && this.ticker.unref) this.ticker.unref();
    this.draw();
    // The state trait may be older than the kernel's (deltas do not update it): say which
    // seq this view holds; the kernel answers with the full state only if it moved on.
    this.model.send({ type: "sync", seq: this.state.seq || 0 });
  }

  /** Rebuild the id -> row map after a state change. */
  indexRows() {
    /** @type {Map<string, Row>} */
    this.rowsById = new Map((this.state.rows || []).map((r) => [r.id, r]));
  }

  /** Whether the run is still going (and its bars should grow with the clock). */
  isLive() {
    const run = this.state.run || {};
    return run.end == null && run.start != null && this.state.live !== false
      && !TERMINAL.has(run.status);
  }

  /** The clock to draw with: the state's now, moved on by local time for a live run. */
  now() {
    const base = this.state.now || 0;
    return this.isLive() ? base + (clock() - this.receivedAt) / 1000 : base;
  }

  /** @param {any} msg */
  handleMessage(msg) {
    if (!msg || typeof msg !== "object") return;
    if (msg.type === "delta" && msg.delta) {
      if (!canApply(this.state, msg.delta)) {
        this.model.send({ type: "resync" });
        return;
      }
      this.state = applyDelta(this.state, msg.delta);
      if ("now" in msg.delta || this.isLive()) this.receivedAt = clock();
      this.indexRows();
      this.schedule();
    } else if (msg.type === "state" && msg.state) {
      this.state = msg.state;
      this.receivedAt = clock();
      this.indexRows();
      this.schedule();
    } else if (msg.type === "details" && this.selected && msg.req === this.selected.req) {
      this.selected.full = msg;
      this.selected.req = null;
      this.renderDetails();
    }
  }

  /** Throttle drawing to one per animation frame. */
  schedule() {
    if (this.frame) return;
    this.frame = raf(() => {
      this.frame = 0;
      this.draw();
    });
  }

  build() {
    const d = this.doc;
    this.root = h(d, "div", "pw-tl");
    const head = h(d, "div", "pw-tl-head");
    this.title = h(d, "span", "pw-tl-title");
    this.badge = h(d, "span", "pw-tl-badge");
    this.runId = h(d, "code", "pw-tl-runid");
    this.when = h(d, "span", "pw-tl-when");
    const prog = h(d, "span", "pw-tl-progress");
    const bar = h(d, "span", "pw-tl-pbar");
    this.pfill = h(d, "span", "pw-tl-pfill");
    bar.append(this.pfill);
    this.ptext = h(d, "span", "pw-tl-ptext");
    prog.append(bar, this.ptext);
    /** @type {[keyof RunInfo, HTMLElement][]} */
    this.runLinks = RUN_LINKS.map(([field, label]) => {
      const link = h(d, "button", "pw-tl-open pw-tl-parent", label);
      link.setAttribute("type", "button");
      link.hidden = true;
      return [field, link];
    });
    const links = this.runLinks.map(([, link]) => link);
    head.append(...links.slice(0, -1), this.title, this.badge, this.runId, this.when, prog,
      ...links.slice(-1));
    this.errorLine = h(d, "div", "pw-tl-error");
    this.axis = h(d, "div", "pw-tl-axis");
    this.wfRow = h(d, "div", "pw-tl-wfrow");
    this.body = h(d, "div", "pw-tl-body");
    this.canvas = h(d, "div", "pw-tl-canvas");
    this.body.append(this.canvas);
    this.details = h(d, "div", "pw-tl-details");
    this.details.hidden = true;
    this.root.append(head, this.errorLine, this.axis, this.wfRow, this.body, this.details);
    this.el.append(this.root);
  }

  /** Width of the time track in px. */
  trackWidth() {
    const w = this.root.clientWidth || this.el.clientWidth || DEFAULT_WIDTH;
    return Math.max(200, w - LABEL_W - 20);
  }

  draw() {
    const t0 = clock();
    const st = this.state;
    const run = st.run || /** @type {RunInfo} */ ({ status: "pending" });
    const now = this.now();
    const width = this.trackWidth();
    const pieces = layout(st, width, this.isLive() ? now : null);
    this.drawHeader(run, now);
    this.drawAxis(pieces, width);
    const rows = st.rows || [];
    const wf = rows.length && rows[0].kind === "workflow" ? rows[0] : null;
    const bodyRows = wf ? rows.slice(1) : rows;
    this.wfRow.replaceChildren();
    if (wf) this.wfRow.append(this.rowEl(wf, run.workflow || wf.label, pieces, now, 0));
    this.drawBody(bodyRows, pieces, width, now);
    if (this.selected && !this.details.hidden) this.refreshDetails();
    this.lastDrawMs = clock() - t0;
  }

  /**
   * @param {RunInfo} run
   * @param {number} now
   */
  drawHeader(run, now) {
    for (const [field, link] of this.runLinks) {
      const target = /** @type {string|null|undefined} */ (run[field]);
      link.hidden = !target;
      link.dataset.runId = target || "";
      link.title = target ? `open ${target}` : "";
    }
    this.title.textContent = run.workflow || "run";
    this.badge.textContent = run.cancel_requested && !TERMINAL.has(run.status)
      ? `${run.status} · cancel requested` : run.status;
    this.badge.style.backgroundColor = statusColor(run.status);
    this.runId.textContent = run.run_id || "";
    const took = run.start != null ? formatDuration((run.end ?? now) - run.start) : "";
    this.when.textContent = run.start != null
      ? `${formatClock(run.start, "full")} · ${took}` : "";
    const p = this.state.progress || { done: 0, total: 0 };
    const pct = p.total ? (100 * p.done) / p.total : 0;
    this.pfill.style.width = `${pct.toFixed(1)}%`;
    this.ptext.textContent = `${p.done} done / ${p.total} total${p.failed ? ` · ${p.failed} failed` : ""}`;
    const err = run.error;
    this.errorLine.hidden = !err;
    this.errorLine.textContent = err ? `${err.type}: ${String(err.message).slice(0, 500)}` : "";
  }

  /**
   * @param {Piece[]} pieces
   * @param {number} width
   */
  drawAxis(pieces, width) {
    const d = this.doc;
    const track = h(d, "div", "pw-tl-axis-track");
    track.style.width = px(width);
    for (const p of pieces) {
      if (!p.gap) continue;
      const gap = (this.state.gaps || []).find((g) => g.start <= p.start && p.start < g.end);
      const label = gap && gap.open && this.isLive()
        ? `${gap.verb || "idle"} ${shortDuration(p.end - p.start)}`
        : (gap && gap.label) || `idle ${shortDuration(p.end - p.start)}`;
      const band = h(d, "div", "pw-tl-gap", p.x1 - p.x0 >= 40 ? label : null);
      band.style.left = px(p.x0);
      band.style.width = px(p.x1 - p.x0);
      band.title = label;
      track.append(band);
    }
    for (const tick of axisTicks(pieces)) {
      const t = h(d, "span", "pw-tl-tick", tick.label);
      t.style.left = px(tick.x);
      if (tick.x > width - 30) t.classList.add("pw-tl-tick--end");
      else if (tick.x < 30) t.classList.add("pw-tl-tick--start");
      track.append(t);
    }
    (this.state.markers || []).forEach((m, i) => {
      const mk = h(d, "span", `pw-tl-marker pw-tl-marker--${m.kind === "cancel" ? "cancel" : "event"}`);
      mk.style.left = px(timeToX(pieces, m.ts));
      mk.title = `${m.kind} ${m.label}${m.text ? `: ${m.text.slice(0, 300)}` : ""} at ${formatClock(m.ts)}`;
      mk.dataset.marker = String(i);
      mk.tabIndex = 0;
      mk.setAttribute("role", "button");
      track.append(mk);
    });
    const spacer = h(d, "div", "pw-tl-label");
    this.axis.replaceChildren(spacer, track);
    this.pieces = pieces;
  }

  /**
   * @param {Row[]} rows
   * @param {Piece[]} pieces
   * @param {number} width
   * @param {number} now
   */
  drawBody(rows, pieces, width, now) {
    const d = this.doc;
    const height = rows.length * ROW_H;
    this.canvas.style.height = px(height);
    this.body.hidden = rows.length === 0;
    const overlay = h(d, "div", "pw-tl-overlay");
    overlay.style.left = px(LABEL_W);
    overlay.style.width = px(width);
    for (const p of pieces) {
      if (!p.gap) continue;
      const band = h(d, "div", "pw-tl-gap");
      band.style.left = px(p.x0);
      band.style.width = px(p.x1 - p.x0);
      overlay.append(band);
    }
    for (const m of this.state.markers || []) {
      const line = h(d, "div", `pw-tl-mline pw-tl-mline--${m.kind === "cancel" ? "cancel" : "event"}`);
      line.style.left = px(timeToX(pieces, m.ts));
      overlay.append(line);
    }
    const viewH = this.body.clientHeight || DEFAULT_VIEW_H;
    const [first, last] = visibleRange(this.body.scrollTop || 0, viewH, rows.length);
    const frag = d.createDocumentFragment();
    frag.append(overlay);
    for (let i = first; i < last; i++) {
      const row = rows[i];
      const node = this.rowEl(row, row.label, pieces, now, i);
      node.style.top = px(i * ROW_H);
      if (i % 2) node.classList.add("pw-tl-row--odd");
      frag.append(node);
    }
    this.canvas.replaceChildren(frag);
    this.drawnRange = [first, last];
  }

  /**
   * One row: label plus its segments as positioned bars.
   * @param {Row} row
   * @param {string} label
   * @param {Piece[]} pieces
   * @param {number} now
   * @param {number} index
   */
  rowEl(row, label, pieces, now, index) {
    const d = this.doc;
    const node = h(d, "div", `pw-tl-row pw-tl-row--${row.kind === "workflow" ? "workflow" : "item"}`);
    node.dataset.index = String(index);
    const lab = h(d, "div", "pw-tl-label", label);
    lab.title = label;
    const track = h(d, "div", "pw-tl-track");
    const faded = row.kind === "sleep" || row.kind === "wait";
    (row.segments || []).forEach((seg, j) => {
      const end = seg.end != null ? seg.end : now;
      const x0 = timeToX(pieces, seg.start);
      const x1 = timeToX(pieces, end);
      const bar = h(d, "div", "pw-tl-seg");
      if (faded) bar.classList.add("pw-tl-seg--faded");
      if (seg.status === "retrying") bar.classList.add("pw-tl-seg--retry");
      if (seg.end == null) bar.classList.add("pw-tl-seg--open");
      bar.style.left = px(x0);
      bar.style.width = px(Math.max(2, x1 - x0));
      bar.style.backgroundColor = statusColor(seg.status);
      bar.title = segmentTitle(row, seg, now);
      bar.dataset.row = row.id;
      bar.dataset.seg = String(j);
      bar.tabIndex = 0;
      bar.setAttribute("role", "button");
      track.append(bar);
    });
    node.append(lab, track);
    return node;
  }

  /**
   * Open the details panel for a clicked bar or marker; true when something was hit.
   * @param {Event} ev
   */
  handleClick(ev) {
    const target = /** @type {Element|null} */ (ev.target);
    if (!target || typeof target.closest !== "function") return false;
    if (target.closest(".pw-tl-details-close")) {
      this.closeDetails();
      return true;
    }
    if (target.closest(".pw-tl-more")) {
      this.requestFull();
      return true;
    }
    const open = /** @type {HTMLElement|null} */ (target.closest(".pw-tl-open"));
    if (open && open.dataset.runId) {
      this.closeDetails();
      this.model.send({ type: "open", run_id: open.dataset.runId });
      return true;
    }
    const bar = /** @type {HTMLElement|null} */ (target.closest(".pw-tl-seg"));
    if (bar && bar.dataset.row != null) {
      this.select({ rowId: bar.dataset.row, seg: Number(bar.dataset.seg), marker: -1 });
      return true;
    }
    const mk = /** @type {HTMLElement|null} */ (target.closest(".pw-tl-marker"));
    if (mk && mk.dataset.marker != null) {
      this.select({ rowId: "", seg: -1, marker: Number(mk.dataset.marker) });
      return true;
    }
    return false;
  }

  /**
   * Show one segment (or marker) in the details panel.
   * @param {{rowId: string, seg: number, marker: number}} what
   */
  select(what) {
    this.selected = { ...what, full: null, req: null, shown: null };
    this.renderDetails();
  }

  closeDetails() {
    this.selected = null;
    this.details.hidden = true;
    this.details.replaceChildren();
  }

  /** Ask the kernel for the selected segment's full values. */
  requestFull() {
    const sel = this.selected;
    if (!sel || sel.marker >= 0) return;
    const row = this.rowsById.get(sel.rowId);
    const seg = row && row.segments[sel.seg];
    if (!seg) return;
    sel.req = `${this.id}:${++this.reqCount}`;
    this.model.send({ type: "details", row: sel.rowId, attempt: seg.attempt, req: sel.req });
    this.renderDetails();
  }

  /** Re-render the panel when its segment changed in a new state. */
  refreshDetails() {
    const sel = this.selected;
    if (!sel || sel.full) return;
    const current = sel.marker >= 0
      ? (this.state.markers || [])[sel.marker]
      : this.rowsById.get(sel.rowId)?.segments[sel.seg];
    if (current !== sel.shown) this.renderDetails();
  }

  renderDetails() {
    const sel = this.selected;
    if (!sel) return;
    const d = this.doc;
    const panel = this.details;
    panel.replaceChildren();
    panel.hidden = false;
    const head = h(d, "div", "pw-tl-details-head");
    const close = h(d, "button", "pw-tl-details-close", "×");
    close.setAttribute("type", "button");
    close.title = "close";
    if (sel.marker >= 0) {
      const m = (this.state.markers || [])[sel.marker];
      sel.shown = m;
      if (!m) return this.closeDetails();
      head.append(h(d, "strong", null, `${m.kind === "cancel" ? "cancel requested" : `${m.kind} ${m.label}`}`), close);
      panel.append(head, h(d, "div", "pw-tl-details-meta", `received ${formatClock(m.ts, "full")}`));
      if (m.text != null) this.section("payload", m.text);
      return;
    }
    const row = this.rowsById.get(sel.rowId);
    const seg = row && row.segments[sel.seg];
    sel.shown = seg;
    if (!row || !seg) return this.closeDetails();
    const title = row.kind === "workflow" ? ((this.state.run || {}).workflow || row.label) : row.label;
    const badge = h(d, "span", "pw-tl-badge", seg.status);
    badge.style.backgroundColor = statusColor(seg.status);
    head.append(h(d, "strong", null, title), badge, close);
    panel.append(head);
    const now = this.now();
    const meta = [];
    if (row.kind === "step" && seg.attempt != null) {
      meta.push(seg.status === "retrying" ? `after attempt ${seg.attempt}` : `attempt ${seg.attempt}`);
    }
    meta.push(`started ${formatClock(seg.start, "full")}`);
    meta.push(seg.end != null ? `took ${formatDuration(seg.end - seg.start)}` : `for ${formatDuration(now - seg.start)} so far`);
    if (seg.until != null) meta.push(`${seg.status === "retrying" ? "retry at" : row.kind === "wait" ? "timeout at" : "until"} ${formatClock(seg.until, "full")}`);
    panel.append(h(d, "div", "pw-tl-details-meta", meta.join(" · ")));
    if (row.kind === "child" && row.run_id) {
      const open = h(d, "button", "pw-tl-open", `open child run ${row.run_id} ›`);
      open.setAttribute("type", "button");
      open.dataset.runId = row.run_id;
      panel.append(open);
    }
    const full = sel.full;
    const src = full && full.found !== false ? full : seg;
    if (src.input != null) this.section("input", src.input);
    if (src.output != null) this.section("output", src.output);
    const err = src.error;
    if (err) {
      const box = this.section("error", `${err.type}: ${err.message}`);
      box.classList.add("pw-tl-pre--error");
      if (err.traceback) this.section("traceback", err.traceback).classList.add("pw-tl-pre--tb");
    }
    if (src.input == null && src.output == null && !err && !full) {
      panel.append(h(d, "div", "pw-tl-details-meta", "no values recorded"));
    }
    if (full) {
      panel.append(h(d, "div", "pw-tl-details-note",
        full.found === false ? "no details found" : full.truncated ? "full values (cut at 1 MB)" : "full values"));
    } else if (sel.req) {
      panel.append(h(d, "div", "pw-tl-details-note", "loading…"));
    } else if (seg.truncated) {
      const more = h(d, "button", "pw-tl-more", "show more");
      more.setAttribute("type", "button");
      panel.append(more);
    }
  }

  /**
   * Append a titled <pre> with text to the details panel.
   * @param {string} title
   * @param {string} text
   * @returns {HTMLElement}
   */
  section(title, text) {
    const d = this.doc;
    this.details.append(h(d, "div", "pw-tl-details-label", title));
    const pre = h(d, "pre", "pw-tl-pre", text);
    this.details.append(pre);
    return pre;
  }

  destroy() {
    if (this.frame) cancelRaf(this.frame);
    this.frame = 0;
    clearInterval(this.ticker);
    this.model.off("change:state", this.onState);
    this.model.off("msg:custom", this.onMsg);
    this.body.removeEventListener("scroll", this.onScroll);
    this.root.removeEventListener("click", this.onClick);
    this.root.removeEventListener("keydown", this.onKey);
    if (this.observer) this.observer.disconnect();
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
    const view = new TimelineView(model, el);
    return () => view.destroy();
  },
};
