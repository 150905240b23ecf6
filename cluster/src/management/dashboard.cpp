// The dashboard: one HTML page, served by `GET /` and `GET /dashboard`, whose script polls
// the other routes of the same server and draws them. Self-contained (inline style and
// script, no other origin: it works offline), and its Content-Security-Policy allows that
// style and script only, by their SHA-256, and connections to its own origin.
//
// The script reads `/cluster/members`, `/metrics` (Prometheus text; the page copes with a
// 404 or a missing name by showing "n/a") and, for each `type` label of
// `troupe_sharding_shards`, `/cluster/shards/{type}`. It inserts data into the page as text
// only (textContent, setAttribute), never as markup. Elements a test looks for carry stable
// ids and `data-` attributes: `tr[data-member]` with data-status, data-leader, data-oldest,
// data-self and data-unreachable; `td[data-observer][data-subject]` in the reachability
// matrix; `tr[data-metric]`; `[data-shard-type]`; and the body's `data-updated`, the number
// of refreshes that read the members.
#include <string>
#include <string_view>

#include <openssl/evp.h>

#include "troupe/cluster/management.hpp"

namespace troupe::cluster {

namespace {

constexpr std::string_view style = R"css(
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; background: #fafafa; }
h1 { font-size: 1.3em; margin: 0 0 .2em; }
h2 { font-size: 1.1em; margin: 1.4em 0 .4em; }
h3 { font-size: 1em; margin: 1em 0 .3em; }
table { border-collapse: collapse; background: #fff; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; }
th { background: #eee; font-weight: 600; }
.note, #updated { color: #666; font-size: .9em; }
#banner { background: #fdd; border: 1px solid #c33; padding: .5em .8em; margin: .8em 0; }
tr[data-status="Up"] .status { color: #080; font-weight: 600; }
tr[data-status="Joining"] .status, tr[data-status="WeaklyUp"] .status, tr[data-status="Leaving"] .status,
tr[data-status="Exiting"] .status { color: #a60; font-weight: 600; }
tr[data-status="Down"] .status, tr[data-status="Removed"] .status { color: #c33; font-weight: 600; }
tr[data-unreachable="true"] { background: #fee; }
.flag { display: inline-block; padding: 0 .45em; margin-right: .3em; border-radius: .7em; background: #e3ecf7;
        font-size: .85em; }
.flag.unreachable { background: #c33; color: #fff; }
#reachability td { text-align: center; min-width: 2.5em; }
#reachability td[data-unreachable="true"] { background: #c33; color: #fff; font-weight: 600; }
#reachability td.ok { color: #080; }
#reachability td.same { color: #999; }
td.value { text-align: right; font-variant-numeric: tabular-nums; min-width: 8em; }
)css";

constexpr std::string_view body = R"html(
<h1>troupe cluster</h1>
<div>self <b id="self-node">?</b> &middot; leader <b id="leader">?</b> &middot; oldest <b id="oldest">?</b>
  &middot; <span id="updated">not loaded yet</span></div>
<div id="banner" role="alert" hidden></div>
<h2>Members</h2>
<table id="members">
  <thead><tr><th>node</th><th>status</th><th>roles</th><th>flags</th><th>uid</th></tr></thead>
  <tbody></tbody>
</table>
<h2>Reachability</h2>
<p class="note">Rows observe columns: a red cell means the row's node sees the column's node as unreachable.</p>
<table id="reachability"></table>
<h2>This node</h2>
<table id="rates"><tbody></tbody></table>
<h2>Sharding</h2>
<div id="sharding"></div>
)html";

constexpr std::string_view script = R"js(
'use strict';
const refreshEveryMs = 1500;
const counters = [
  {id: 'messages-processed', label: 'messages processed', name: 'troupe_actor_messages_processed_total', unit: 'msg/s'},
  {id: 'dead-letters', label: 'dead letters (total)', name: 'troupe_actor_dead_letters_total'},
  {id: 'remote-messages-sent', label: 'remote messages sent', name: 'troupe_remote_messages_sent_total', unit: 'msg/s'},
  {id: 'remote-messages-received', label: 'remote messages received', name: 'troupe_remote_messages_received_total',
   unit: 'msg/s'},
  {id: 'remote-bytes-sent', label: 'remote bytes sent', name: 'troupe_remote_bytes_sent_total', unit: 'B/s'},
  {id: 'remote-bytes-received', label: 'remote bytes received', name: 'troupe_remote_bytes_received_total', unit: 'B/s'},
];
let previous = null;  // {at, totals} of the last scrape of /metrics
let refreshes = 0;

// An element with attributes and children; strings become text nodes, never markup.
function el(tag, attributes, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attributes || {})) e.setAttribute(k, String(v));
  e.append(...children.map(c => (c instanceof Node ? c : String(c))));
  return e;
}
function setText(id, text) { document.getElementById(id).textContent = text; }
function short(node) { return String(node).replace(/^troupe:\/\//, ''); }

// GET of a path of this server, with the token of the URL fragment (#token=...) if any.
async function get(path) {
  const token = new URLSearchParams(location.hash.slice(1)).get('token');
  const headers = token ? {Authorization: 'Bearer ' + token} : {};
  let r;
  try {
    r = await fetch(path, {headers, cache: 'no-store', signal: AbortSignal.timeout(5000)});
  } catch (e) {
    throw new Error(path + ': ' + e.message);
  }
  if (r.status === 401) {
    throw new Error(path + ': 401, ' + (token ? 'the token was refused' : 'a token is needed: open /dashboard#token=<token>'));
  }
  return r;
}
async function getJson(path) {
  const r = await get(path);
  if (!r.ok) throw new Error(path + ': HTTP ' + r.status);
  return r.json();
}

// Prometheus text format: `name{label="value",...} value [timestamp]`, # comments.
function parseMetrics(text) {
  const samples = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const l of (m[2] || '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]] = l[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
    }
    const v = /^\+?inf$/i.test(m[3]) ? Infinity : /^-inf$/i.test(m[3]) ? -Infinity : Number(m[3]);
    samples.push({name: m[1], labels, value: v});
  }
  return samples;
}
// The sum of the samples of `name` matching `labels`, or null when there is none.
function total(samples, name, labels = {}) {
  let sum = null;
  for (const s of samples || []) {
    if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) sum = (sum || 0) + s.value;
  }
  return sum;
}

function showMembers(m) {
  const unreachable = new Set((m.unreachable || []).map(u => u.node));
  setText('self-node', short(m.selfNode || '?'));
  setText('leader', m.leader ? short(m.leader) : 'none');
  setText('oldest', m.oldest ? short(m.oldest) : 'none');
  const rows = (m.members || []).map(x => {
    const flags = {leader: x.node === m.leader, oldest: x.node === m.oldest, self: x.node === m.selfNode,
                   unreachable: unreachable.has(x.node)};
    const tr = el('tr', {'data-member': x.node, 'data-status': x.status});
    const badges = el('td', {class: 'flags'});
    for (const [flag, on] of Object.entries(flags)) {
      tr.setAttribute('data-' + flag, String(on));
      if (on) badges.append(el('span', {class: 'flag ' + flag}, flag));
    }
    tr.append(el('td', {class: 'node'}, x.node), el('td', {class: 'status'}, x.status),
              el('td', {class: 'roles'}, (x.roles || []).join(', ')), badges, el('td', {class: 'uid'}, x.nodeUid));
    return tr;
  });
  document.querySelector('#members tbody').replaceChildren(...rows);
}

function showReachability(m) {
  const nodes = new Set((m.members || []).map(x => x.node));
  const seen = new Set();
  for (const u of m.unreachable || []) {
    nodes.add(u.node);
    for (const o of u.observedBy || []) {
      nodes.add(o);
      seen.add(o + ' ' + u.node);
    }
  }
  const all = [...nodes].sort();
  const head = el('tr', {}, el('th', {}, 'observer \\ subject'), ...all.map(n => el('th', {title: n}, short(n))));
  const rows = all.map(o => el('tr', {'data-observer-row': o}, el('th', {title: o}, short(o)), ...all.map(s => {
    const bad = seen.has(o + ' ' + s);
    return el('td', {'data-observer': o, 'data-subject': s, 'data-unreachable': bad,
                     class: o === s ? 'same' : bad ? 'bad' : 'ok'},
              o === s ? '-' : bad ? 'unreachable' : 'ok');
  })));
  document.getElementById('reachability').replaceChildren(el('thead', {}, head), el('tbody', {}, ...rows));
}

function format(value, unit) {
  if (unit === 'B/s') {
    const k = ['B/s', 'KiB/s', 'MiB/s', 'GiB/s'];
    let i = 0;
    while (value >= 1024 && i < k.length - 1) { value /= 1024; i += 1; }
    return value.toFixed(i === 0 ? 0 : 1) + ' ' + k[i];
  }
  return unit ? value.toFixed(1) + ' ' + unit : String(value);
}

// Rates are the differences of the counters between two scrapes over the time between them.
function showNode(samples, at) {
  const totals = {};
  const rows = counters.map(c => {
    const now = samples ? total(samples, c.name) : null;
    totals[c.id] = now;
    const before = previous ? previous.totals[c.id] : null;
    let text = 'n/a';
    if (now !== null && !c.unit) text = String(now);
    else if (now !== null && before === null) text = 'measuring...';
    else if (now !== null && now >= before) text = format((now - before) / ((at - previous.at) / 1000), c.unit);
    return el('tr', {'data-metric': c.id, 'data-value': now === null ? 'n/a' : now},
              el('th', {}, c.label), el('td', {class: 'value'}, text));
  });
  previous = {at, totals};
  document.querySelector('#rates tbody').replaceChildren(...rows);
}

async function shardingBlock(type, samples, errors) {
  const block = el('div', {'data-shard-type': type}, el('h3', {}, 'entity type ' + type));
  const shards = total(samples, 'troupe_sharding_shards', {type});
  const entities = total(samples, 'troupe_sharding_entities', {type});
  block.append(el('p', {class: 'note'}, 'this node: ' + (shards === null ? 'n/a' : shards) + ' shards, ' +
                                        (entities === null ? 'n/a' : entities) + ' entities'));
  let data;
  try {
    data = await getJson('/cluster/shards/' + encodeURIComponent(type));
  } catch (e) {
    errors.push(e.message);
    block.append(el('p', {class: 'note'}, 'per node: n/a (' + e.message + ')'));
    return block;
  }
  const rows = (data.cluster || []).map(r => {
    const n = (r.shards || []).length;
    const e = (r.shards || []).reduce((sum, s) => sum + (s.numEntities || 0), 0);
    return el('tr', {'data-shard-node': r.address, 'data-shards': n, 'data-entities': e},
              el('td', {}, r.address), el('td', {}, n), el('td', {}, e));
  });
  for (const f of data.failed || []) {
    rows.push(el('tr', {'data-shard-node': f, 'data-failed': 'true'}, el('td', {}, f), el('td', {colspan: 2}, 'did not answer')));
  }
  const head = el('tr', {}, el('th', {}, 'node'), el('th', {}, 'shards'), el('th', {}, 'entities'));
  block.append(el('table', {}, el('thead', {}, head), el('tbody', {}, ...rows)));
  return block;
}

async function showSharding(samples, errors) {
  const types = [...new Set((samples || []).filter(s => s.name === 'troupe_sharding_shards' && 'type' in s.labels)
                                          .map(s => s.labels.type))].sort();
  const blocks = await Promise.all(types.map(t => shardingBlock(t, samples, errors)));
  const none = el('p', {class: 'note'}, samples ? 'No entity types in /metrics.' : 'n/a: no /metrics on this node.');
  document.getElementById('sharding').replaceChildren(...(blocks.length ? blocks : [none]));
}

async function refresh() {
  const errors = [];
  let members = null;
  try {
    members = await getJson('/cluster/members');
  } catch (e) {
    errors.push(e.message);
  }
  let samples;  // undefined: the scrape failed (keep what is shown); null: no /metrics
  try {
    const r = await get('/metrics');
    if (r.ok) samples = parseMetrics(await r.text());
    else if (r.status === 404) samples = null;
    else errors.push('/metrics: HTTP ' + r.status);
  } catch (e) {
    errors.push(e.message);
  }
  if (members) {
    showMembers(members);
    showReachability(members);
  }
  if (samples !== undefined) {
    showNode(samples, performance.now());
    await showSharding(samples, errors);
  }
  if (members) {
    refreshes += 1;
    document.body.dataset.updated = String(refreshes);
    setText('updated', 'updated ' + new Date().toLocaleTimeString());
  }
  const banner = document.getElementById('banner');
  banner.hidden = errors.length === 0;
  banner.textContent = errors.length === 0 ? '' : 'Refresh failed at ' + new Date().toLocaleTimeString() + ': ' +
      errors.join('; ') + '. Showing the last data; still polling.';
  document.body.dataset.error = String(errors.length > 0);
}

async function poll() {
  try {
    await refresh();
  } catch (e) {
    const banner = document.getElementById('banner');
    banner.hidden = false;
    banner.textContent = 'Refresh failed: ' + e;
  }
  setTimeout(poll, refreshEveryMs);
}
poll();
)js";

/// A CSP source for an inline element with `text`: 'sha256-<base64 of its SHA-256>'.
std::string csp_hash(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), digest, &size, EVP_sha256(), nullptr);
  std::string base64(4 * ((size + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(base64.data()), digest, static_cast<int>(size));
  base64.resize(static_cast<std::size_t>(n));
  return "'sha256-" + base64 + "'";
}

management_response make_page() {
  management_response r;
  r.content_type = "text/html; charset=utf-8";
  r.body = "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
           "<title>troupe cluster</title>\n<style>" +
           std::string(style) + "</style>\n</head>\n<body data-updated=\"0\">" + std::string(body) + "<script>" +
           std::string(script) + "</script>\n</body>\n</html>\n";
  r.content_security_policy = "default-src 'none'; script-src " + csp_hash(script) + "; style-src " +
                              csp_hash(style) +
                              "; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
  return r;
}

}  // namespace

management_response management_dashboard_page() {
  static const management_response page = make_page();
  return page;
}

}  // namespace troupe::cluster
