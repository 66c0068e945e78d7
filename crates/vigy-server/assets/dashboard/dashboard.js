// The vigy dashboard: a fleet view, a vigy view and an overview, over the
// server's public GraphQL API and /metrics only. Plain ES module, no build
// step, no dependency: what it shows, any client could.

const PAGE_SIZE = 100;
const TIMELINE = 12;
const TOKEN_KEY = 'vigy-token';

const main = document.getElementById('main');
const live = document.getElementById('live');

class Unauthenticated extends Error {}

// --- Talking to the server -------------------------------------------------

function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { authorization: `Bearer ${token}` } : {};
}

async function gql(query, variables = {}) {
  const response = await fetch('/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...authHeaders() },
    body: JSON.stringify({ query, variables }),
  });
  if (response.status === 401) throw new Unauthenticated('a bearer token is required');
  const body = await response.json();
  if (body.errors?.length) throw new Error(body.errors.map((e) => e.message).join('; '));
  return body.data;
}

// Finished runs as they are recorded, over graphql-transport-ws. A browser
// cannot send a bearer header on a WebSocket, so with a token the page
// refreshes on a timer instead.
function follow(onRun) {
  if (sessionStorage.getItem(TOKEN_KEY)) {
    live.textContent = 'refreshing every 2 s';
    const timer = setInterval(() => onRun(null), 2000);
    return () => clearInterval(timer);
  }
  let socket;
  let stopped = false;
  const open = () => {
    const url = new URL('/graphql', location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    socket = new WebSocket(url, 'graphql-transport-ws');
    socket.onopen = () => socket.send(JSON.stringify({ type: 'connection_init' }));
    socket.onmessage = (message) => {
      const frame = JSON.parse(message.data);
      if (frame.type === 'connection_ack') {
        live.textContent = 'live';
        const query = `subscription { streamEvents { ${RUN_FIELDS} } }`;
        socket.send(JSON.stringify({ type: 'subscribe', id: 'runs', payload: { query } }));
      } else if (frame.type === 'next' && frame.payload?.data) {
        onRun(frame.payload.data.streamEvents);
      } else if (frame.type === 'ping') {
        socket.send(JSON.stringify({ type: 'pong' }));
      }
    };
    socket.onclose = () => {
      live.textContent = 'reconnecting…';
      if (!stopped) setTimeout(open, 1000);
    };
  };
  open();
  return () => {
    stopped = true;
    socket?.close();
  };
}

const RUN_FIELDS = 'id vigyId tick result error startedAt endedAt';
const ROW_FIELDS = `id name enabled pausedReason disabledReason labels tickIntervalMs cron tz
  state { owner nextTicks consecutiveFailures }
  runs(first: ${TIMELINE}) { nodes { ${RUN_FIELDS} } }`;

// --- Small helpers -----------------------------------------------------------

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

const duration = (run) => Math.max(0, Date.parse(run.endedAt) - Date.parse(run.startedAt));
const excerpt = (text, length = 120) => (text && text.length > length ? `${text.slice(0, length)}…` : text || '');
const when = (iso) => (iso ? new Date(iso).toLocaleString() : '–');
const schedule = (vigy) => (vigy.cron ? `cron ${vigy.cron} ${vigy.tz || 'UTC'}` : `every ${vigy.tickIntervalMs} ms`);

function status(vigy) {
  if (vigy.disabledReason) return ['quarantined', vigy.disabledReason];
  if (!vigy.enabled) return ['disabled', ''];
  if (vigy.pausedReason) return ['paused', vigy.pausedReason];
  return ['enabled', ''];
}

function timeline(runs) {
  const strip = el('ol', { class: 'timeline', 'aria-label': 'recent ticks, oldest first' });
  for (const run of [...runs].reverse()) {
    const ms = duration(run);
    const label = `tick ${run.tick}: ${run.result.toLowerCase()}, ${ms} ms`;
    strip.append(el('li', { class: `tick ${run.result.toLowerCase()}`, title: label, 'aria-label': label }));
  }
  return strip;
}

function showError(error) {
  if (error instanceof Unauthenticated) return askForToken();
  main.replaceChildren(el('p', { role: 'alert', class: 'error' }, String(error.message || error)));
}

// --- Sign in -------------------------------------------------------------------

function askForToken(message = '') {
  const form = document.getElementById('login');
  form.hidden = false;
  main.replaceChildren();
  document.getElementById('login-error').textContent = message;
  document.getElementById('token').focus();
  form.onsubmit = async (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, document.getElementById('token').value);
    try {
      await gql('{ __typename }');
      form.hidden = true;
      route();
    } catch (error) {
      sessionStorage.removeItem(TOKEN_KEY);
      askForToken(error instanceof Unauthenticated ? 'That token was refused.' : String(error.message));
    }
  };
}

// --- Overview, from /metrics ---------------------------------------------------

let previousTicks = null;

function parseMetrics(text) {
  const sums = new Map();
  const buckets = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-z_]+)(\{[^}]*\})? ([0-9.eE+-]+|\+Inf|NaN)$/.exec(line);
    if (!match) continue;
    const [, name, labels = '', value] = match;
    sums.set(name, (sums.get(name) || 0) + Number(value));
    if (name === 'vigy_tick_lateness_seconds_bucket') {
      const le = /le="([^"]+)"/.exec(labels)?.[1];
      buckets.push([le === '+Inf' ? Infinity : Number(le), Number(value)]);
    }
  }
  return { sums, buckets };
}

function quantile(buckets, q) {
  const total = buckets.find(([le]) => le === Infinity)?.[1] || 0;
  if (!total) return null;
  const bucket = buckets.find(([, count]) => count >= q * total);
  return bucket && bucket[0] !== Infinity ? bucket[0] : null;
}

async function refreshOverview() {
  const nav = document.getElementById('overview');
  try {
    const response = await fetch('/metrics', { headers: authHeaders() });
    if (!response.ok) return;
    const { sums, buckets } = parseMetrics(await response.text());
    const ticks = sums.get('vigy_ticks_total') || 0;
    const failures = sums.get('vigy_tick_failures_total') || 0;
    const now = performance.now();
    const rate = previousTicks ? ((ticks - previousTicks.ticks) * 1000) / (now - previousTicks.at) : null;
    previousTicks = { ticks, at: now };
    const ms = (s) => (s === null ? '–' : `≤ ${Math.round(s * 1000)} ms`);
    const figure = (name, value) => el('span', { class: 'figure' }, el('span', { class: 'name' }, name), ' ', el('strong', {}, value));
    nav.replaceChildren(
      figure('ticks/s', rate === null ? '…' : rate.toFixed(1)),
      figure('failed', ticks ? `${((failures * 100) / ticks).toFixed(1)} %` : '–'),
      figure('late p50', ms(quantile(buckets, 0.5))),
      figure('p99', ms(quantile(buckets, 0.99))),
    );
  } catch {
    // The overview is a nicety; the views say what is wrong.
  }
}

// --- Fleet view ----------------------------------------------------------------

const fleet = { selector: '', result: '', cursors: [null], page: 0, rows: new Map() };

const FLEET_QUERY = `query Fleet($selector: String, $after: String) {
  vigies(selector: $selector, first: ${PAGE_SIZE}, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { ${ROW_FIELDS} }
  }
}`;

function fleetRow(vigy) {
  const runs = vigy.runs.nodes;
  const last = runs[0];
  const [state, why] = status(vigy);
  const result = last ? last.result.toLowerCase() : 'none';
  const row = el(
    'tr',
    { class: `result-${result}`, 'data-vigy': vigy.name },
    el('th', { scope: 'row' }, el('a', { href: `#/vigy/${encodeURIComponent(vigy.name)}` }, vigy.name)),
    el('td', {}, Object.entries(vigy.labels).map(([k, v]) => el('span', { class: 'label' }, `${k}=${v}`))),
    el('td', { class: `state ${state}`, title: why || undefined }, state),
    el('td', {}, vigy.state.owner || '–'),
    el('td', { class: `result ${result}` }, last ? `${result} (tick ${last.tick})` : 'no run yet'),
    el('td', { class: 'excerpt' }, excerpt(last?.error)),
    el('td', {}, when(vigy.state.nextTicks[0])),
    el('td', {}, timeline(runs)),
  );
  return row;
}

function renderFleet(page) {
  const rows = page.nodes.filter((v) => !fleet.result || v.runs.nodes[0]?.result === fleet.result);
  fleet.rows = new Map(page.nodes.map((v) => [v.id, v]));
  const filters = el(
    'form',
    { class: 'filters', role: 'search', onsubmit: (e) => { e.preventDefault(); fleet.selector = e.target.selector.value; fleet.result = e.target.result.value; fleet.cursors = [null]; fleet.page = 0; showFleet(); } },
    el('label', { for: 'selector' }, 'Label selector'),
    el('input', { id: 'selector', name: 'selector', value: fleet.selector, placeholder: 'team=infra,tier!=canary' }),
    el('label', { for: 'result' }, 'Last result'),
    el('select', { id: 'result', name: 'result' },
      ['', 'OK', 'FAILED', 'SKIPPED'].map((r) => el('option', { value: r, selected: r === fleet.result }, r ? r.toLowerCase() : 'any'))),
    el('button', { type: 'submit' }, 'Filter'),
  );
  const table = el(
    'table',
    { class: 'fleet' },
    el('caption', {}, `Vigies, page ${fleet.page + 1}`),
    el('thead', {}, el('tr', {}, ['Name', 'Labels', 'State', 'Owner', 'Last result', 'Last error', 'Next tick', 'Recent ticks'].map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, rows.map(fleetRow)),
  );
  const pager = el(
    'nav',
    { class: 'pager', 'aria-label': 'pages' },
    el('button', { disabled: fleet.page === 0, onclick: () => { fleet.page -= 1; showFleet(); } }, 'Previous'),
    el('button', { disabled: !page.pageInfo.hasNextPage, onclick: () => { fleet.cursors[fleet.page + 1] = page.pageInfo.endCursor; fleet.page += 1; showFleet(); } }, 'Next'),
  );
  main.replaceChildren(el('h1', {}, 'Fleet'), filters, rows.length ? table : el('p', {}, 'No vigy matches.'), pager);
  window.vigyRendered = performance.now();
}

let refreshing = null;
async function showFleet() {
  try {
    const data = await gql(FLEET_QUERY, { selector: fleet.selector || null, after: fleet.cursors[fleet.page] });
    renderFleet(data.vigies);
  } catch (error) {
    showError(error);
  }
}

// A run landed: refetch the page once per burst, if the vigy is on it (or
// on every timer tick when following by polling).
function onFleetRun(run) {
  if (run && !fleet.rows.has(run.vigyId)) return;
  refreshing ??= setTimeout(() => { refreshing = null; showFleet(); }, 250);
}

// --- Vigy view -----------------------------------------------------------------

const VIGY_QUERY = `query One($id: String!) {
  vigy(id: $id) {
    ${ROW_FIELDS.replace(`runs(first: ${TIMELINE})`, 'runs(first: 30)').replace(RUN_FIELDS, `${RUN_FIELDS} logsTruncated actions { kind payload result message output } logs { level message }`)}
    program
    state { desired observed pending { kind result } tickCount missedTicks leaseExpiresAt
            conditions { type status reason message lastTransitionTime } }
    kv { entries }
  }
}`;

const INTRINSIC = /^vigy-/;
function highlight(source) {
  const code = el('code', {});
  const token = /(;[^\n]*)|("(?:[^"\\]|\\.)*")|([()\[\]'`])|([^\s()\[\]'`";]+)|(\s+)/g;
  for (const [, comment, string, paren, word, space] of source.matchAll(token)) {
    if (comment) code.append(el('span', { class: 'tok-comment' }, comment));
    else if (string) code.append(el('span', { class: 'tok-string' }, string));
    else if (paren) code.append(el('span', { class: 'tok-paren' }, paren));
    else if (word) code.append(INTRINSIC.test(word) ? el('span', { class: 'tok-intrinsic' }, word) : /^-?\d/.test(word) ? el('span', { class: 'tok-number' }, word) : word);
    else code.append(space);
  }
  return el('pre', { class: 'program' }, code);
}

const json = (value) => el('pre', { class: 'json' }, JSON.stringify(value, null, 2));

async function act(name, mutation, confirmText) {
  if (confirmText && !confirm(confirmText)) return;
  try {
    await gql(mutation, { id: name });
    if (mutation.includes('deleteVigy')) location.hash = '#/';
    else showVigy(name);
  } catch (error) {
    showError(error);
  }
}

function runDetails(run) {
  const result = run.result.toLowerCase();
  return el(
    'li',
    { class: `run ${result}` },
    el('details', {},
      el('summary', {}, `tick ${run.tick} · ${result} · ${duration(run)} ms · ${when(run.startedAt)}`),
      run.error ? el('pre', { class: 'run-error', role: 'note' }, run.error) : null,
      run.actions.length ? el('table', { class: 'actions' },
        el('thead', {}, el('tr', {}, ['Action', 'Payload', 'Result', 'Message'].map((h) => el('th', { scope: 'col' }, h)))),
        el('tbody', {}, run.actions.map((a) => el('tr', {}, el('td', {}, a.kind), el('td', {}, excerpt(JSON.stringify(a.payload), 80)), el('td', { class: `result ${a.result.toLowerCase()}` }, a.result.toLowerCase()), el('td', {}, a.message || ''))))) : null,
      run.logs.length ? el('ol', { class: 'logs' }, run.logs.map((l) => el('li', {}, el('span', { class: `level ${l.level}` }, l.level), ' ', l.message)), run.logsTruncated ? el('li', {}, '… more logs were cut') : null) : null,
    ),
  );
}

let shownVigyId = null;
async function showVigy(name) {
  let vigy;
  try {
    vigy = (await gql(VIGY_QUERY, { id: name })).vigy;
  } catch (error) {
    return showError(error);
  }
  shownVigyId = vigy.id;
  const [state, why] = status(vigy);
  const runs = vigy.runs.nodes;
  const lateness = runs.slice(0, -1).map((run, i) => Date.parse(run.startedAt) - Date.parse(runs[i + 1].startedAt));
  main.replaceChildren(
    el('p', {}, el('a', { href: '#/' }, '← Fleet')),
    el('h1', {}, vigy.name),
    el('dl', { class: 'facts' },
      el('dt', {}, 'State'), el('dd', { class: `state ${state}` }, state, why ? ` — ${why}` : ''),
      el('dt', {}, 'Schedule'), el('dd', {}, schedule(vigy)),
      el('dt', {}, 'Owner'), el('dd', {}, vigy.state.owner || '–'),
      el('dt', {}, 'Ticks'), el('dd', {}, `${vigy.state.tickCount} (missed ${vigy.state.missedTicks ?? 0}, failures in a row ${vigy.state.consecutiveFailures ?? 0})`),
      el('dt', {}, 'Next ticks'), el('dd', {}, vigy.state.nextTicks.map(when).join(', ') || '–'),
    ),
    el('div', { class: 'buttons' },
      vigy.enabled
        ? el('button', { onclick: () => act(vigy.name, 'mutation($id: String!) { disableVigy(id: $id) { id } }') }, 'Disable')
        : el('button', { onclick: () => act(vigy.name, 'mutation($id: String!) { enableVigy(id: $id) { id } }') }, 'Enable'),
      el('button', { onclick: () => act(vigy.name, 'mutation($id: String!) { tickVigy(id: $id) { id } }') }, 'Tick now'),
      el('button', { class: 'danger', onclick: () => act(vigy.name, 'mutation($id: String!) { deleteVigy(id: $id) { id } }', `Delete ${vigy.name} with its runs and kv store?`) }, 'Delete'),
    ),
    el('section', { 'aria-labelledby': 'h-ticks' },
      el('h2', { id: 'h-ticks' }, 'Ticks'),
      timeline(runs),
      el('p', { class: 'hint' }, lateness.length ? `gaps between starts: ${Math.min(...lateness)}–${Math.max(...lateness)} ms` : ''),
      el('ol', { class: 'runs' }, runs.map(runDetails)),
    ),
    el('section', { class: 'columns', 'aria-label': 'desired and observed' },
      el('div', {}, el('h2', {}, 'Desired'), json(vigy.state.desired)),
      el('div', {}, el('h2', {}, 'Observed'), json(vigy.state.observed)),
    ),
    el('section', {}, el('h2', {}, 'Conditions'),
      vigy.state.conditions.length ? el('ul', {}, vigy.state.conditions.map((c) => el('li', {}, `${c.type}=${c.status.toLowerCase()}`, c.reason ? ` (${c.reason})` : '', c.message ? `: ${c.message}` : ''))) : el('p', {}, 'none')),
    el('section', {}, el('h2', {}, 'kv'), json(vigy.kv.entries)),
    el('section', {}, el('h2', {}, 'Program'), highlight(vigy.program)),
  );
  window.vigyRendered = performance.now();
}

// --- Routing -------------------------------------------------------------------

let unfollow = null;
function route() {
  unfollow?.();
  const match = /^#\/vigy\/(.+)$/.exec(location.hash);
  if (match) {
    const name = decodeURIComponent(match[1]);
    showVigy(name);
    let pending = null;
    unfollow = follow((run) => {
      if (run && run.vigyId !== shownVigyId) return;
      pending ??= setTimeout(() => { pending = null; showVigy(name); }, 250);
    });
  } else {
    showFleet();
    unfollow = follow(onFleetRun);
  }
}

window.addEventListener('hashchange', route);
route();
refreshOverview();
setInterval(refreshOverview, 5000);
