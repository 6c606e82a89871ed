// guardgate dashboard: plain JS, no build step, no network beyond this origin's admin API.
// Data is only ever inserted with textContent / setAttribute, never as HTML.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const TIER_COLOURS = {
  normal: "#4b8b3b", suspect: "#d08a00", extractor: "#c0392b", blocked: "#5b2333", trusted: "#2b6cb0",
};
// Kinds of link evidence, in the order the API gives their weights, and their colours.
const KINDS = ["network", "software", "app", "content"];
const KIND_COLOURS = { network: "#1f77b4", software: "#8e44ad", app: "#16a085", content: "#e67e22" };
const FLAGGED_ROWS = 15;
const EVIDENCE_ROWS = 12;
const OPEN_MEMBERS = 12;
const state = { token: "", selected: "", account: "", timer: 0 };

function $(id) { return document.getElementById(id); }

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function svgEl(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  return node;
}

function tierBadge(tier) { return el("span", tier, "tier tier-" + tier); }

function when(ts) {
  if (ts === null || ts === undefined) return "–";
  const d = new Date(ts * 1000);
  return d.toISOString().replace("T", " ").slice(0, 19);
}

// A time of day, with the full date in the cell's tooltip.
function clockCell(ts, cls) {
  const cell = el("td", ts === null || ts === undefined ? "–" : when(ts).slice(11), cls);
  cell.title = when(ts);
  return cell;
}

// Reasons in one line (the first), all of them in the tooltip.
function reasonsCell(reasons) {
  const cell = el("td", reasons.length ? reasons[0] + (reasons.length > 1 ? " …" : "") : "", "muted reasons");
  cell.title = reasons.join("\n");
  return cell;
}

function short(id) { return id.length > 14 ? id.slice(0, 12) + "…" : id; }

function setStatus(text) { $("status").textContent = text; }

async function api(path, options) {
  const opts = options || {};
  opts.headers = Object.assign({ authorization: "Bearer " + state.token }, opts.headers || {});
  const res = await fetch("api/" + path, opts);
  if (res.status === 401) {
    sessionStorage.removeItem("guardgate-admin-token");
    state.token = "";
    $("login").hidden = false;
    throw new Error("the admin token was refused");
  }
  const body = await res.json();
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
}

function sparkline(points, width, height) {
  const svg = svgEl("svg", { width, height, viewBox: `0 0 ${width} ${height}`, class: "spark" });
  if (!points.length) return svg;
  const t0 = points[0].ts;
  const t1 = points[points.length - 1].ts;
  const span = Math.max(t1 - t0, 1);
  const xy = points.map((p) => [
    points.length === 1 ? width / 2 : ((p.ts - t0) / span) * (width - 4) + 2,
    height - 2 - p.score * (height - 4),
  ]);
  svg.appendChild(svgEl("polyline", { points: xy.map((q) => q.join(",")).join(" "), class: "line" }));
  const [lx, ly] = xy[xy.length - 1];
  svg.appendChild(svgEl("circle", { cx: lx, cy: ly, r: 2, fill: "#c0392b" }));
  return svg;
}

function renderClusters(clusters) {
  const body = $("clusters").querySelector("tbody");
  body.replaceChildren();
  $("no-clusters").hidden = clusters.length > 0;
  for (const c of clusters) {
    const row = el("tr", null, "cluster-row");
    row.dataset.cluster = c.cluster;
    if (c.cluster === state.selected) row.classList.add("selected");
    row.appendChild(el("td", short(c.cluster), "id")).title = c.cluster;
    row.appendChild(el("td", c.size));
    row.appendChild(el("td")).appendChild(tierBadge(c.tier));
    row.appendChild(el("td", c.score.toFixed(2)));
    row.appendChild(el("td")).appendChild(sparkline(c.history, 110, 22));
    row.appendChild(el("td", c.requests));
    row.appendChild(clockCell(c.last_seen));
    row.appendChild(reasonsCell(c.reasons));
    row.addEventListener("click", () => selectCluster(c.cluster));
    body.appendChild(row);
  }
}

function overrideText(o) {
  // An override forces a tier, multiplies the quotas, or both.
  return [o.tier, o.quota ? "quota x" + o.quota : ""].filter(Boolean).join(", ");
}

function renderFlagged(accounts) {
  const body = $("flagged").querySelector("tbody");
  body.replaceChildren();
  $("no-flagged").hidden = accounts.length > 0;
  const more = accounts.length - FLAGGED_ROWS;
  $("more-flagged").hidden = more <= 0;
  $("more-flagged").textContent = more > 0 ? more + " more flagged accounts (GET api/accounts?flagged=1)" : "";
  for (const f of accounts.slice(0, FLAGGED_ROWS)) {
    const row = el("tr", null, "flagged-row");
    row.dataset.account = f.account;
    row.appendChild(el("td", short(f.account), "id")).title = f.account;
    const cluster = row.appendChild(el("td", f.cluster ? short(f.cluster) + " (" + f.cluster_size + ")" : "alone", f.cluster ? "id" : "muted"));
    cluster.title = f.cluster || "in no cluster";
    row.appendChild(el("td")).appendChild(tierBadge(f.tier));
    row.appendChild(el("td", f.score.toFixed(2)));
    row.appendChild(el("td", f.requests));
    row.appendChild(clockCell(f.last_seen));
    row.appendChild(reasonsCell(f.reasons));
    row.addEventListener("click", async () => {
      if (f.cluster) await selectCluster(f.cluster);
      await showAccount(f.account);
    });
    body.appendChild(row);
  }
}

function evidenceOf(edge) { return KINDS.map((k) => (edge.evidence && edge.evidence[k]) || 0); }

function strongest(edge) {
  const w = evidenceOf(edge);
  const top = w.indexOf(Math.max(...w));
  return w[top] > 0 ? KINDS[top] : "";
}

function describeEvidence(edge) {
  const parts = KINDS.map((k, i) => [k, evidenceOf(edge)[i]]).filter((p) => p[1] > 0);
  return parts.length ? parts.map((p) => p[0] + " " + p[1].toFixed(2)).join(", ") : "no evidence recorded";
}

function renderLegend() {
  const legend = $("legend");
  legend.replaceChildren(el("span", "links by their strongest evidence:", "muted"));
  for (const k of KINDS) {
    const key = el("span", null, "key");
    key.style.background = KIND_COLOURS[k];
    legend.append(key, el("span", k));
  }
}

function renderEvidence(edges) {
  const body = $("evidence").querySelector("tbody");
  body.replaceChildren();
  const total = (e) => evidenceOf(e).reduce((a, b) => a + b, 0);
  const ranked = edges.slice().sort((x, y) => total(y) - total(x) || y.ts - x.ts);
  for (const e of ranked.slice(0, EVIDENCE_ROWS)) {
    const row = el("tr");
    row.appendChild(el("td", short(e.a), "id")).title = e.a;
    row.appendChild(el("td", short(e.b), "id")).title = e.b;
    evidenceOf(e).forEach((w, i) => {
      const cell = el("td", null, "weight");
      const bar = el("span", null, "bar kind-" + KINDS[i]);
      bar.style.width = Math.round(w * 28) + "px";
      cell.append(bar, document.createTextNode(w.toFixed(2)));
      row.appendChild(cell);
    });
    row.appendChild(clockCell(e.ts, "muted"));
    body.appendChild(row);
  }
  const more = ranked.length - EVIDENCE_ROWS;
  $("more-evidence").hidden = more <= 0;
  $("more-evidence").textContent = more > 0 ? more + " weaker links not listed (hover a line in the graph)" : "";
}

function renderOverrides(overrides) {
  const body = $("overrides").querySelector("tbody");
  body.replaceChildren();
  for (const o of overrides) {
    const row = el("tr");
    row.appendChild(el("td", o.scope));
    row.appendChild(el("td", short(o.subject), "id")).title = o.subject;
    row.appendChild(el("td")).appendChild(o.tier ? tierBadge(o.tier) : el("span", "(engine's)"));
    row.appendChild(el("td", o.expires_at ? when(o.expires_at) : "never"));
    row.appendChild(el("td", (o.quota ? "quota x" + o.quota + " " : "") + o.note, "muted"));
    const clear = el("button", "clear");
    clear.addEventListener("click", async () => {
      await api("overrides/" + o.scope + "/" + encodeURIComponent(o.subject), { method: "DELETE" });
      refresh();
    });
    row.appendChild(el("td")).appendChild(clear);
    body.appendChild(row);
  }
}

function renderHistory(points) {
  const svg = $("history");
  svg.replaceChildren();
  const w = 560, h = 110, pad = 24;
  svg.appendChild(svgEl("line", { x1: pad, y1: h - pad, x2: w - 6, y2: h - pad, class: "axis" }));
  svg.appendChild(svgEl("line", { x1: pad, y1: 6, x2: pad, y2: h - pad, class: "axis" }));
  for (const v of [0, 0.5, 1]) {
    const label = svgEl("text", { x: 2, y: h - pad - v * (h - pad - 6) + 3 });
    label.textContent = v.toFixed(1);
    svg.appendChild(label);
  }
  if (!points.length) return;
  const t0 = points[0].ts, t1 = points[points.length - 1].ts, span = Math.max(t1 - t0, 1);
  const xy = points.map((p) => [
    pad + (points.length === 1 ? (w - pad) / 2 : ((p.ts - t0) / span) * (w - pad - 10)),
    h - pad - p.score * (h - pad - 6),
  ]);
  svg.appendChild(svgEl("polyline", { points: xy.map((q) => q.join(",")).join(" "), class: "line" }));
  for (const [x, y] of xy) svg.appendChild(svgEl("circle", { cx: x, cy: y, r: 2.5, fill: "#c0392b" }));
  const first = svgEl("text", { x: pad, y: h - 6 });
  first.textContent = when(t0).slice(11, 16);
  const last = svgEl("text", { x: w - 40, y: h - 6 });
  last.textContent = when(t1).slice(11, 16);
  svg.append(first, last);
}

// A small force-directed layout: springs along links, repulsion between all nodes.
function layout(members, edges, width, height) {
  const n = members.length;
  const index = new Map(members.map((m, i) => [m.account, i]));
  const pos = members.map((_, i) => {
    const a = (2 * Math.PI * i) / Math.max(n, 1);
    return [width / 2 + (width / 3) * Math.cos(a), height / 2 + (height / 3) * Math.sin(a)];
  });
  const links = edges.map((e) => [index.get(e.a), index.get(e.b)]).filter((p) => p[0] !== undefined && p[1] !== undefined);
  const ideal = Math.sqrt((width * height) / Math.max(n, 1)) * 0.6;
  const steps = n > 150 ? 60 : 200;
  for (let step = 0; step < steps; step++) {
    const cool = 1 - step / steps;
    const force = pos.map(() => [0, 0]);
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        let dx = pos[i][0] - pos[j][0], dy = pos[i][1] - pos[j][1];
        const d2 = Math.max(dx * dx + dy * dy, 0.01);
        const f = (ideal * ideal) / d2;
        force[i][0] += dx * f * 0.05; force[i][1] += dy * f * 0.05;
        force[j][0] -= dx * f * 0.05; force[j][1] -= dy * f * 0.05;
      }
    }
    for (const [i, j] of links) {
      const dx = pos[i][0] - pos[j][0], dy = pos[i][1] - pos[j][1];
      const d = Math.sqrt(dx * dx + dy * dy) || 1;
      const f = (d - ideal) / d * 0.1;
      force[i][0] -= dx * f; force[i][1] -= dy * f;
      force[j][0] += dx * f; force[j][1] += dy * f;
    }
    for (let i = 0; i < n; i++) {
      const cap = 20 * cool + 1;
      pos[i][0] += Math.max(-cap, Math.min(cap, force[i][0] + (width / 2 - pos[i][0]) * 0.01));
      pos[i][1] += Math.max(-cap, Math.min(cap, force[i][1] + (height / 2 - pos[i][1]) * 0.01));
      pos[i][0] = Math.max(10, Math.min(width - 10, pos[i][0]));
      pos[i][1] = Math.max(10, Math.min(height - 10, pos[i][1]));
    }
  }
  return { pos, links };
}

function renderGraph(members, edges) {
  const svg = $("graph");
  svg.replaceChildren();
  const { pos } = layout(members, edges, 560, 340);
  const index = new Map(members.map((m, i) => [m.account, i]));
  for (const e of edges) {
    const i = index.get(e.a), j = index.get(e.b);
    if (i === undefined || j === undefined) continue;
    const kind = strongest(e);
    const total = evidenceOf(e).reduce((a, b) => a + b, 0);
    const line = svgEl("line", {
      x1: pos[i][0], y1: pos[i][1], x2: pos[j][0], y2: pos[j][1], class: "edge", "data-kind": kind,
    });
    // Set through the CSSOM (the page's CSP allows no style attribute in markup).
    line.style.stroke = kind ? KIND_COLOURS[kind] : "#9aa4b2";
    line.style.strokeWidth = (0.6 + total / 2).toFixed(2);
    const title = svgEl("title");
    title.textContent = short(e.a) + " – " + short(e.b) + ": " + describeEvidence(e);
    line.appendChild(title);
    svg.appendChild(line);
  }
  members.forEach((m, i) => {
    const dot = svgEl("circle", {
      cx: pos[i][0], cy: pos[i][1], r: 4 + Math.min(6, Math.sqrt(m.requests)),
      fill: TIER_COLOURS[m.tier] || "#777", class: "node", "data-account": m.account,
    });
    const title = svgEl("title");
    title.textContent = m.account + " · " + m.tier + " · " + m.requests + " requests";
    dot.appendChild(title);
    dot.addEventListener("click", () => showAccount(m.account));
    svg.appendChild(dot);
  });
}

function renderMembers(members) {
  const body = $("members").querySelector("tbody");
  body.replaceChildren();
  for (const m of members) {
    const row = el("tr");
    row.dataset.account = m.account;
    row.appendChild(el("td", m.account, "id"));
    row.appendChild(el("td")).appendChild(tierBadge(m.tier));
    row.appendChild(el("td", m.score.toFixed(2)));
    row.appendChild(el("td", m.requests));
    row.appendChild(clockCell(m.last_seen));
    row.appendChild(el("td", m.tier_reason || "engine", "muted reasons"));
    row.addEventListener("click", () => showAccount(m.account));
    body.appendChild(row);
  }
  $("members-summary").textContent = "Members (" + members.length + ")";
}

function fillList(id, items) {
  const list = $(id);
  list.replaceChildren(...items.map((r) => el("li", r)));
}

async function selectCluster(id, keepAccount) {
  if (!keepAccount && id !== state.selected) { state.account = ""; $("account").hidden = true; }
  state.selected = id;
  for (const row of document.querySelectorAll("tr.cluster-row")) {
    row.classList.toggle("selected", row.dataset.cluster === id);
  }
  const d = await api("clusters/" + encodeURIComponent(id));
  const s = d.summary;
  $("detail").hidden = false;
  $("cluster-view").hidden = false;
  $("detail").dataset.cluster = id;
  $("detail-title").replaceChildren(el("span", "cluster " + id + " "), tierBadge(s.tier));
  $("detail-meta").textContent = s.size + " accounts · score " + s.score.toFixed(2) + " · " +
    s.requests + " requests seen here · " + d.edges.length + " links" +
    (d.truncated ? " · graph shows the most recent members only" : "") +
    (s.override ? " · override: " + overrideText(s.override) : "");
  fillList("detail-reasons", s.reasons);
  renderHistory(s.history);
  renderLegend();
  renderGraph(d.members, d.edges);
  renderEvidence(d.edges);
  renderMembers(d.members);
  // A long member list stays folded: the graph, the links and the account view come first.
  if (!$("members-box").dataset.touched) $("members-box").open = d.members.length <= OPEN_MEMBERS;
  $("ov-scope").value = "cluster";
  $("ov-subject").value = id;
}

async function showAccount(id) {
  const a = await api("accounts/" + encodeURIComponent(id));
  state.account = id;
  $("detail").hidden = false;
  $("account").hidden = false;
  if (!a.cluster || a.cluster !== state.selected) {
    // An account on its own (or outside the cluster shown): its view alone.
    state.selected = "";
    $("cluster-view").hidden = true;
    delete $("detail").dataset.cluster;
    $("detail-title").replaceChildren(el("span", "account " + short(a.account) + " "), tierBadge(a.tier));
    $("detail-meta").textContent = a.cluster ? "in cluster " + a.cluster : "in no cluster";
    fillList("detail-reasons", []);
    for (const row of document.querySelectorAll("tr.cluster-row")) row.classList.remove("selected");
  }
  for (const row of document.querySelectorAll("tr.flagged-row")) {
    row.classList.toggle("selected", row.dataset.account === id);
  }
  $("account-title").replaceChildren(el("span", "account " + a.account + " "), tierBadge(a.tier));
  $("account-meta").textContent = "cluster " + (a.cluster || "none") + " (" + a.cluster_size +
    ") · score " + a.score.toFixed(2) + " · " + a.requests + " requests · " + a.linked.length +
    " links" + (a.override ? " · override: " + overrideText(a.override) : "");
  fillList("account-reasons", a.reasons);
  const body = $("recent").querySelector("tbody");
  body.replaceChildren();
  for (const r of a.recent) {
    const row = el("tr");
    row.append(el("td", when(r.ts)), el("td", r.api), el("td", r.model), el("td", r.tier),
      el("td", r.actions.join(", ")), el("td", r.ip_prefix, "mono"));
    body.appendChild(row);
  }
  $("ov-scope").value = "account";
  $("ov-subject").value = id;
}

async function refresh() {
  if (!state.token) return;
  try {
    const [c, f, o] = await Promise.all([
      api("clusters?limit=50"), api("accounts?flagged=1&limit=100"), api("overrides"),
    ]);
    renderClusters(c.clusters);
    renderFlagged(f.accounts);
    renderOverrides(o.overrides);
    setStatus(f.accounts.length + " flagged accounts · " + c.clusters.length + " clusters · updated " +
      when(c.now).slice(11));
    if (state.selected) await selectCluster(state.selected, true);
    else if (!state.account && c.clusters.length) await selectCluster(c.clusters[0].cluster);
    if (state.account) await showAccount(state.account);
  } catch (err) {
    setStatus("error: " + err.message);
  }
}

function start(token) {
  state.token = token;
  sessionStorage.setItem("guardgate-admin-token", token);
  $("login").hidden = true;
  refresh();
  clearInterval(state.timer);
  state.timer = setInterval(refresh, 10000);
}

document.addEventListener("DOMContentLoaded", () => {
  // A token in the fragment (#token=...) never reaches a server; drop it from the address bar.
  const hash = new URLSearchParams(location.hash.slice(1));
  const fromHash = hash.get("token");
  // #cluster=<id> opens that cluster (a link an operator can share; the token is not kept in it).
  state.selected = hash.get("cluster") || "";
  // #account=<id> opens that account's view (beside its cluster's, when it has one).
  state.account = hash.get("account") || "";
  if (fromHash) {
    const keep = [["cluster", state.selected], ["account", state.account]]
      .filter((p) => p[1]).map((p) => p[0] + "=" + encodeURIComponent(p[1])).join("&");
    history.replaceState(null, "", location.pathname + location.search + (keep ? "#" + keep : ""));
  }
  const token = fromHash || sessionStorage.getItem("guardgate-admin-token") || "";
  if (token) start(token);
  else { $("login").hidden = false; setStatus("sign in"); }

  $("login").addEventListener("submit", (ev) => { ev.preventDefault(); start($("token").value); });
  $("members-summary").addEventListener("click", () => { $("members-box").dataset.touched = "1"; });
  $("find").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const id = $("find-id").value.trim();
    try { await selectCluster(id); } catch (_) {
      try { await showAccount(id); } catch (err) { setStatus("not found: " + id); }
    }
  });
  $("override-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { tier: $("ov-tier").value, note: $("ov-note").value };
    const ttl = Number($("ov-ttl").value);
    if (ttl > 0) body.ttl = ttl;
    try {
      await api("overrides/" + $("ov-scope").value + "/" + encodeURIComponent($("ov-subject").value.trim()), {
        method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
      });
      refresh();
    } catch (err) { setStatus("error: " + err.message); }
  });
});
