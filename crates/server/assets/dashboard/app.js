// Watchpost dashboard script. The pages are rendered by the server; this script only
//  - sends actions (elements and forms with data-api="METHOD /api/v1/...") to the API,
//    with the login cookie, and shows the answer or the error next to them;
//  - keeps the sections marked data-live current: when the stream reports a change on
//    the page's topics (body data-live-topics), it fetches the page again and swaps those
//    sections in, at most once a second.
'use strict';

const liveTopics = document.body.dataset.liveTopics || '';
let refreshTimer = null;
let lastRefresh = 0;

// ---- actions --------------------------------------------------------------------------

document.addEventListener('click', (event) => {
  const toggle = event.target.closest('[data-toggle-nav]');
  if (toggle) {
    document.body.classList.toggle('nav-open');
    return;
  }
  if (event.target.closest('[data-refresh]')) {
    refreshLive(true);
    return;
  }
  const all = event.target.closest('[data-select-all]');
  if (all) {
    for (const box of document.querySelectorAll('input[name=alert]')) box.checked = all.checked;
    return;
  }
  const el = event.target.closest('[data-api]');
  if (!el || el.tagName === 'FORM') return;
  event.preventDefault();
  if (el.dataset.confirm && !window.confirm(el.dataset.confirm)) return;
  let body;
  if (el.dataset.bulk) {
    const ids = [...document.querySelectorAll('input[name=alert]:checked')].map((b) => b.value);
    if (ids.length === 0) {
      showResult(el, 'Select alerts first.', true);
      return;
    }
    body = { ids, status: el.dataset.bulk };
  } else if (el.dataset.body) {
    body = JSON.parse(el.dataset.body);
  }
  send(el, body);
});

document.addEventListener('submit', (event) => {
  const form = event.target;
  if (!form.dataset.api) return;
  event.preventDefault();
  clearFieldErrors(form);
  let body;
  try {
    body = formBody(form);
  } catch (problem) {
    markField(form, problem.field, problem.message);
    showResult(form, problem.message, true);
    return;
  }
  send(form, form.dataset.wrap ? { [form.dataset.wrap]: body } : body);
});

// The JSON body of a form: each named field by its data-type (number, bool, json, lines,
// auto; text otherwise); data-path places it in nested objects. Empty optional fields are
// left out.
function formBody(form) {
  const body = {};
  for (const field of form.elements) {
    if (!field.name || field.disabled || field.type === 'submit') continue;
    const raw = field.value;
    let value;
    switch (field.dataset.type) {
      case 'number':
        if (raw.trim() === '') continue;
        value = Number(raw);
        if (!Number.isFinite(value)) throw fieldProblem(field, `${field.name}: \`${raw}\` is not a number`);
        break;
      case 'bool':
        value = raw === 'true';
        break;
      case 'json':
        try {
          value = JSON.parse(raw);
        } catch (e) {
          throw fieldProblem(field, `${field.name}: not JSON: ${e.message}`);
        }
        break;
      case 'lines':
        value = raw.split('\n').map((l) => l.trim()).filter((l) => l !== '');
        break;
      case 'auto':
        if (raw.trim() === '') continue;
        try {
          value = JSON.parse(raw);
        } catch (e) {
          value = raw;
        }
        break;
      default:
        value = raw;
    }
    const path = field.dataset.path ? JSON.parse(field.dataset.path) : [field.name];
    let target = body;
    for (const key of path.slice(0, -1)) {
      if (typeof target[key] !== 'object' || target[key] === null) target[key] = {};
      target = target[key];
    }
    target[path[path.length - 1]] = value;
  }
  return body;
}

function fieldProblem(field, message) {
  return { field: field.name, message };
}

async function send(el, body) {
  const [method, url] = el.dataset.api.split(' ');
  const buttons = el.tagName === 'FORM' ? [...el.querySelectorAll('button')] : [el];
  buttons.forEach((b) => (b.disabled = true));
  try {
    const response = await fetch(url, {
      method,
      credentials: 'same-origin',
      // Always JSON: the server takes a change without an API key header only as JSON.
      headers: { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let answer = null;
    try {
      answer = text ? JSON.parse(text) : null;
    } catch (e) {
      answer = null;
    }
    if (!response.ok) {
      showError(el, response.status, answer, text);
      return;
    }
    if (el.dataset.show === 'token' && answer && answer.token) {
      showResult(el, '', false, `<p>The sender's token, shown only now:</p><p class="new-key"><code data-new-key>${escapeHtml(answer.token)}</code></p>`);
      return;
    }
    if (el.dataset.show === 'key' && answer && answer.key) {
      showResult(el, '', false, `<p>The new key, shown only now:</p><p class="new-key"><code data-new-key>${escapeHtml(answer.key)}</code></p>`);
    } else if (el.dataset.show === 'json') {
      showResult(el, '', false, `<pre class="json">${escapeHtml(JSON.stringify(answer, null, 2))}</pre>`);
    } else {
      showResult(el, 'Done.', false);
    }
    if (el.tagName !== 'FORM' || el.dataset.show !== 'json') refreshLive(true);
  } catch (problem) {
    showResult(el, `The server could not be reached: ${problem.message}`, true);
  } finally {
    buttons.forEach((b) => (b.disabled = false));
  }
}

function showError(el, status, answer, text) {
  const error = answer && answer.error;
  const message = error ? error.message : `${status}: ${text.slice(0, 300)}`;
  showResult(el, message, true);
  const problems = error && error.details && Array.isArray(error.details.errors) ? error.details.errors : [];
  if (el.tagName === 'FORM') {
    for (const problem of problems) markField(el, problem.key, problem.message);
    if (error && error.details && error.details.parameter) markField(el, error.details.parameter, error.message);
  }
}

// Puts a message under the field a key names (`api.port`), or under its nearest
// enclosing setting shown (`alerting.routes` for `alerting.routes[0].receiver`).
function markField(form, key, message) {
  if (!key) return;
  let name = String(key);
  while (name) {
    const field = form.querySelector(`[name="${CSS.escape(name)}"]`);
    if (field) {
      field.setAttribute('aria-invalid', 'true');
      const note = document.createElement('p');
      note.className = 'field-error';
      note.setAttribute('role', 'alert');
      note.textContent = message;
      field.closest('label').after(note);
      return;
    }
    const cut = Math.max(name.lastIndexOf('.'), name.lastIndexOf('['));
    name = cut > 0 ? name.slice(0, cut) : '';
  }
}

function clearFieldErrors(form) {
  form.querySelectorAll('.field-error').forEach((n) => n.remove());
  form.querySelectorAll('[aria-invalid]').forEach((n) => n.removeAttribute('aria-invalid'));
}

function showResult(el, message, failed, html) {
  let place = el.tagName === 'FORM' ? el.querySelector('[data-result]') : null;
  if (!place) {
    const next = el.nextElementSibling;
    place = next && next.hasAttribute('data-result') ? next : el.parentElement.querySelector('[data-result]');
  }
  if (!place) {
    if (failed) window.alert(message);
    return;
  }
  place.className = failed ? 'error' : 'ok';
  place.setAttribute('role', failed ? 'alert' : 'status');
  if (html) place.innerHTML = html;
  else place.textContent = message;
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

// ---- live sections -----------------------------------------------------------------

function connect() {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const socket = new WebSocket(`${scheme}://${location.host}/api/v1/stream?topics=${encodeURIComponent(liveTopics)}`);
  const state = document.querySelector('[data-live-state]');
  socket.onopen = () => state && (state.textContent = '● live');
  socket.onmessage = (message) => {
    // The greeting names the topics; only changes refresh.
    if (!message.data.startsWith('{"topic":"hello"')) scheduleRefresh();
  };
  socket.onclose = () => {
    if (state) state.textContent = '○ reconnecting';
    setTimeout(connect, 2000);
  };
}

function scheduleRefresh() {
  if (refreshTimer) return;
  const wait = Math.max(0, 1000 - (Date.now() - lastRefresh));
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    refreshLive(false);
  }, wait);
}

// Fetches this page again and swaps in its live sections. A section where the user has
// selected rows is left alone, with a notice offering the update.
async function refreshLive(force) {
  lastRefresh = Date.now();
  const sections = [...document.querySelectorAll('[data-live][id]')];
  if (sections.length === 0) return;
  const busy = sections.some((s) => s.querySelector('input[type=checkbox]:checked'));
  const notice = document.querySelector('[data-new-alerts]');
  if (busy && !force) {
    if (notice) notice.hidden = false;
    return;
  }
  const response = await fetch(location.href, { credentials: 'same-origin' });
  if (!response.ok) return;
  const fresh = new DOMParser().parseFromString(await response.text(), 'text/html');
  for (const section of sections) {
    const replacement = fresh.getElementById(section.id);
    if (replacement) section.replaceWith(document.importNode(replacement, true));
  }
  if (notice) notice.hidden = true;
}

if (liveTopics) connect();
