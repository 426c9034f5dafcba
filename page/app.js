'use strict';
// Releaser's web page: reads the same JSON routes as every other client. Everything shown
// is built with createElement and textContent (a release's output is untrusted text).
// Loops: `watch` refreshes queue, history and summary, then long-polls the running release
// until it ends (or waits IDLE_MS when idle); `follow` long-polls the running output.
// Every loop pauses after an error, longer each time, and honours Retry-After.
(function () {
  const FINAL = ['success', 'failed', 'timeout', 'cancelled'];
  const RETRYABLE = ['failed', 'timeout', 'cancelled'];
  const PAGE_SIZE = 20;
  const WAIT_S = 30;              // long-poll length, as pre-deploy.sh asks
  const IDLE_MS = 15000;          // refresh when nothing runs
  const HIDDEN_IDLE_MS = 60000;   // ... and when the tab is hidden
  const MAX_LOG_CHARS = 2000000;  // a live log keeps its newest part only

  const el = (id) => document.getElementById(id);
  const meta = document.querySelector('meta[name=commit-url]');
  const prefix = meta ? meta.content : '';
  const commitUrl = prefix.startsWith('https://') || prefix.startsWith('http://') ? prefix : '';

  // --- HTTP ---

  class HttpError extends Error {
    constructor(status, message, retryAfter) {
      super(message);
      this.status = status;
      this.retryAfter = retryAfter;
    }
  }

  function retryAfter(resp) {
    const seconds = parseInt(resp.headers.get('Retry-After') || '', 10);
    return Number.isFinite(seconds) && seconds > 0 ? Math.min(seconds, 10) : 0;
  }

  async function call(method, path, body, signal) {
    const init = {method: method, credentials: 'same-origin', cache: 'no-store',
                  headers: {}, signal: signal};
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    try {
      // location.origin: a page opened as http://user:key@host/ must not put them in fetch
      return await fetch(location.origin + path, init);
    } catch (err) {
      if (err.name === 'AbortError') throw err;
      throw new HttpError(0, 'Cannot reach the releaser (network error)', 0);
    }
  }

  async function failure(resp) {
    let message = 'HTTP ' + resp.status;
    try {
      const data = await resp.json();
      if (data && typeof data.error === 'string') message = data.error;
    } catch (err) { /* not JSON */ }
    return new HttpError(resp.status, message, retryAfter(resp));
  }

  async function json(method, path, body) {
    const resp = await call(method, path, body);
    if (!resp.ok) throw await failure(resp);
    return resp.json();
  }

  function describe(err) {
    if (err.status === 401) {
      return 'Not signed in: the releaser refused the key (401). Reload the page and give ' +
             'the API key as the password (any user name).';
    }
    if (err.status === 0) return err.message;
    return err.message + ' (HTTP ' + err.status + ')';
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  function pauseAfter(failures, err) {
    const backoff = Math.min(30000, 1000 * Math.pow(2, Math.min(failures, 5)));
    return Math.max(backoff, (err && err.retryAfter ? err.retryAfter : 0) * 1000);
  }

  // --- Status line: loop errors come and go by themselves; a message about an action stays
  // until the next one.

  const statusLine = el('status');
  let loopError = false;

  function say(text, kind) {
    statusLine.textContent = text;
    statusLine.className = 'status' + (kind ? ' ' + kind : '');
    loopError = kind === 'error loop';
  }

  function loopFailed(err, pauseMs) {
    say(describe(err) + '; trying again in ' + Math.round(pauseMs / 1000) + ' s.', 'error loop');
  }

  function loopRecovered() {
    if (loopError) say('', '');
  }

  // --- Formatting ---

  function node(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function commit(sha) {
    const short = sha.slice(0, 12);
    let e;
    if (commitUrl) {
      e = node('a', 'sha', short);
      e.href = commitUrl + sha;
      e.rel = 'noopener noreferrer';
    } else {
      e = node('code', 'sha', short);
    }
    e.title = sha;
    return e;
  }

  function badge(state) {
    return node('span', 'badge state-' + state, state);
  }

  function when(iso) {
    if (!iso) return node('span', 'muted', '–');
    const date = new Date(iso);
    const today = new Date().toDateString() === date.toDateString();
    const text = today
      ? date.toLocaleTimeString([], {hour: '2-digit', minute: '2-digit', second: '2-digit'})
      : date.toLocaleString([], {month: 'short', day: 'numeric', hour: '2-digit',
                                 minute: '2-digit'});
    const e = node('time', null, text);
    e.dateTime = iso;
    e.title = date.toString();
    return e;
  }

  function duration(ms) {
    if (ms === null || ms === undefined) return '–';
    if (ms < 1000) return ms + ' ms';
    const s = ms / 1000;
    if (s < 60) return s.toFixed(1) + ' s';
    const m = Math.floor(s / 60);
    if (m < 60) return m + ' min ' + Math.floor(s % 60) + ' s';
    return Math.floor(m / 60) + ' h ' + (m % 60) + ' min';
  }

  function button(text, className, label, onClick) {
    const b = node('button', className, text);
    b.type = 'button';
    if (label) b.setAttribute('aria-label', label);
    b.addEventListener('click', onClick);
    return b;
  }

  // --- Actions ---

  async function act(buttonEl, busyText, method, path, body) {
    const label = buttonEl.textContent;
    buttonEl.disabled = true;
    buttonEl.textContent = busyText;
    try {
      const data = await json(method, path, body);
      say(data.message || 'Done.', 'ok');
    } catch (err) {
      say(describe(err), 'error');
    } finally {
      buttonEl.disabled = false;
      buttonEl.textContent = label;
      nudge();
    }
  }

  const cancel = (b, sha) => act(b, 'Cancelling…', 'DELETE', '/queue/' + sha);
  const retry = (b, sha) => act(b, 'Retrying…', 'POST', '/queue', {commitSha: sha, retry: true});

  // --- Running now: the followed attempt and its live output ---

  const nowSummary = el('now-summary');
  const nowLog = el('now-log');
  const abortButton = el('abort');
  let followed = null;  // {sha, attempt, offset, state, controller, decoder, chars}
  let abortArmed = null;

  function renderNow(running) {
    nowSummary.replaceChildren();
    if (followed && !FINAL.includes(followed.state)) {
      nowSummary.append(badge('running'), ' ', commit(followed.sha),
                        ' attempt ' + followed.attempt);
      if (running && running.started_at) nowSummary.append(', since ', when(running.started_at));
      abortButton.hidden = false;
    } else {
      abortButton.hidden = true;
      disarmAbort();
      nowSummary.append('Nothing is running.');
      if (followed) {
        nowSummary.append(' Last: ', commit(followed.sha), ' attempt ' + followed.attempt + ' ',
                          badge(followed.state));
      }
    }
  }

  function disarmAbort() {
    if (abortArmed) clearTimeout(abortArmed);
    abortArmed = null;
    if (!abortButton.disabled) abortButton.textContent = 'Abort';
  }

  abortButton.addEventListener('click', () => {
    if (!followed) return;
    if (!abortArmed) {  // a second click within 5 s confirms: stopping a release is final
      abortButton.textContent = 'Confirm abort';
      abortArmed = setTimeout(disarmAbort, 5000);
      return;
    }
    disarmAbort();
    say('Stopping the release of ' + followed.sha.slice(0, 12) + '…', '');
    act(abortButton, 'Aborting…', 'DELETE', '/queue/' + followed.sha);
  });

  function appendOutput(pre, tracker, text) {
    if (!text) return;
    const atEnd = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 40;
    pre.append(document.createTextNode(text));
    tracker.chars += text.length;
    while (tracker.chars > MAX_LOG_CHARS && pre.firstChild && pre.firstChild !== pre.lastChild) {
      tracker.chars -= pre.firstChild.textContent.length;
      pre.firstChild.remove();
    }
    if (atEnd) pre.scrollTop = pre.scrollHeight;
  }

  function number(resp, name) {
    const value = parseInt(resp.headers.get(name) || '', 10);
    return Number.isFinite(value) ? value : null;
  }

  function follow(running) {
    if (followed) followed.controller.abort();
    followed = {sha: running.git_commit_sha, attempt: running.attempt, offset: 0,
                state: 'running', controller: new AbortController(),
                decoder: new TextDecoder('utf-8'), chars: 0};
    nowLog.replaceChildren();
    nowLog.hidden = false;
    followLoop(followed);
  }

  async function followLoop(f) {
    let failures = 0;
    while (followed === f && !FINAL.includes(f.state)) {
      const started = Date.now();
      try {
        const resp = await call('GET', '/release/logs?commit-sha=' + f.sha + '&attempt=' +
                                f.attempt + '&offset=' + f.offset + '&wait=' + WAIT_S,
                                undefined, f.controller.signal);
        if (!resp.ok) throw await failure(resp);
        const bytes = await resp.arrayBuffer();
        if (followed !== f) return;
        failures = 0;
        const state = resp.headers.get('X-Release-State') || f.state;
        const start = number(resp, 'X-Log-Start');
        const next = number(resp, 'X-Log-Offset');
        if (start !== null && start > f.offset) {
          appendOutput(nowLog, f, '[output before byte ' + start + ' was dropped]' +
                       String.fromCharCode(10));
        }
        appendOutput(nowLog, f, f.decoder.decode(bytes, {stream: !FINAL.includes(state)}));
        f.offset = next !== null ? next : f.offset + bytes.byteLength;
        if (state !== f.state) {
          f.state = state;
          renderNow(null);
          if (FINAL.includes(state)) nudge();
        }
        const pause = retryAfter(resp) * 1000;
        if (pause) await sleep(pause);
        else if (bytes.byteLength === 0 && Date.now() - started < 2000) await sleep(1000);
      } catch (err) {
        if (err.name === 'AbortError' || followed !== f) return;
        failures += 1;
        const pause = pauseAfter(failures, err);
        loopFailed(err, pause);
        await sleep(pause);
      }
    }
  }

  // --- Queue ---

  const queueList = el('queue-list');

  function renderQueue(data) {
    queueList.replaceChildren();
    for (const item of data.queue) {
      const li = node('li', 'queue-item');
      const what = node('span', 'what');
      what.append(commit(item.git_commit_sha));
      if (item.attempt > 1) what.append(' attempt ' + item.attempt);
      what.append(node('span', 'muted', ' queued '), when(item.queued_at));
      li.append(what, button('Cancel', 'small', 'Cancel the release of ' +
                             item.git_commit_sha.slice(0, 12),
                             (ev) => cancel(ev.currentTarget, item.git_commit_sha)));
      li.dataset.sha = item.git_commit_sha;
      queueList.append(li);
    }
    el('queue-empty').hidden = data.queue.length > 0;
    el('queue-title').textContent = data.queue.length ? 'Queue (' + data.queue.length +
                                                        ' waiting)' : 'Queue';
  }

  // --- History: cursor paging (a stack of `before` cursors) and a state filter ---

  const historyRows = el('history-rows');
  const stateFilter = el('state-filter');
  const cursors = [];       // the `before` of each page shown before this one
  let cursor = null;        // this page's `before`
  let nextCursor = null;
  let historySeq = 0;
  const latestAttempt = new Map();  // sha -> highest attempt seen (queue, running, history)

  function historyPath() {
    let path = '/releases?limit=' + PAGE_SIZE;
    if (cursor) path += '&before=' + encodeURIComponent(cursor);
    if (stateFilter.value) path += '&state=' + encodeURIComponent(stateFilter.value);
    return path;
  }

  function noteAttempt(sha, attempt) {
    if ((latestAttempt.get(sha) || 0) < attempt) latestAttempt.set(sha, attempt);
  }

  function renderHistory(data) {
    historyRows.replaceChildren();
    for (const r of data.releases) noteAttempt(r.commitSha, r.attempt);
    for (const r of data.releases) {
      const tr = node('tr');
      tr.dataset.sha = r.commitSha;
      tr.dataset.attempt = String(r.attempt);
      tr.dataset.state = r.state;
      const cells = [badge(r.state), commit(r.commitSha), String(r.attempt),
                     when(r.started_at || r.created_at), duration(r.duration_ms)];
      const result = [];
      if (r.exit_code !== null && r.exit_code !== undefined) result.push('exit ' + r.exit_code);
      if (r.error && r.error !== 'release command exited with status ' + r.exit_code) {
        result.push(r.error);
      }
      cells.push(node('span', 'result', result.join(' · ') || '–'));
      cells.push((r.requested_by || []).join(', ') || '–');
      for (const c of cells) {
        const td = node('td');
        td.append(c);
        tr.append(td);
      }
      const actions = node('td', 'actions');
      actions.append(button('Output', 'small', 'Output of ' + r.commitSha.slice(0, 12) +
                            ' attempt ' + r.attempt, () => openLog(r)));
      if (RETRYABLE.includes(r.state) && latestAttempt.get(r.commitSha) === r.attempt) {
        actions.append(' ', button('Retry', 'small', 'Retry ' + r.commitSha.slice(0, 12),
                                   (ev) => retry(ev.currentTarget, r.commitSha)));
      }
      tr.append(actions);
      tr.addEventListener('click', (ev) => {
        if (!ev.target.closest('a, button')) openLog(r);
      });
      historyRows.append(tr);
    }
    el('history-empty').hidden = data.releases.length > 0;
    nextCursor = data.next;
    el('older').disabled = !nextCursor;
    el('newer').disabled = cursors.length === 0;
    const first = cursors.length * PAGE_SIZE + 1;
    el('page-info').textContent = data.releases.length
      ? 'Page ' + (cursors.length + 1) + ' · ' + first + '–' + (first + data.releases.length - 1)
      : '';
  }

  async function loadHistory() {
    const seq = ++historySeq;
    try {
      const data = await json('GET', historyPath());
      if (seq === historySeq) renderHistory(data);
    } catch (err) {
      say(describe(err), 'error');
    }
  }

  el('older').addEventListener('click', () => {
    if (!nextCursor) return;
    cursors.push(cursor);
    cursor = nextCursor;
    loadHistory();
  });
  el('newer').addEventListener('click', () => {
    if (!cursors.length) return;
    cursor = cursors.pop();
    loadHistory();
  });
  stateFilter.addEventListener('change', () => {
    cursors.length = 0;
    cursor = null;
    loadHistory();
  });

  // --- One attempt's output, in a dialog ---

  const dialog = el('log-dialog');
  const dialogText = el('log-text');
  let dialogSeq = 0;

  async function openLog(r) {
    const seq = ++dialogSeq;
    el('log-title').textContent = 'Output of ' + r.commitSha.slice(0, 12) + ', attempt ' +
                                  r.attempt;
    const metaLine = el('log-meta');
    metaLine.replaceChildren(badge(r.state), ' ', commit(r.commitSha), ' · loading…');
    dialogText.replaceChildren();
    if (!dialog.open) dialog.showModal();
    try {
      const resp = await call('GET', '/release/logs?commit-sha=' + r.commitSha + '&attempt=' +
                              r.attempt);
      if (!resp.ok) throw await failure(resp);
      const text = new TextDecoder('utf-8').decode(await resp.arrayBuffer());
      if (seq !== dialogSeq) return;
      const state = resp.headers.get('X-Release-State') || r.state;
      const start = number(resp, 'X-Log-Start');
      metaLine.replaceChildren(badge(state), ' ', commit(r.commitSha), ' · ' +
                               (number(resp, 'X-Log-Offset') || 0) + ' bytes');
      if (start) metaLine.append(' (the first ' + start + ' were dropped)');
      if (!FINAL.includes(state)) metaLine.append(' · still ' + state);
      dialogText.textContent = text || '(no output)';
    } catch (err) {
      if (seq === dialogSeq) metaLine.replaceChildren(describe(err));
    }
  }

  el('log-close').addEventListener('click', () => dialog.close());

  // --- 7-day summary ---

  function renderMetrics(data) {
    const list = el('metrics-list');
    list.replaceChildren();
    el('metrics-title').textContent = 'Last ' + data.period;
    const order = ['success', 'failed', 'timeout', 'cancelled', 'running', 'queued'];
    const metrics = data.metrics.slice().sort((a, b) =>
      order.indexOf(a.release_status) - order.indexOf(b.release_status));
    for (const m of metrics) {
      const li = node('li', 'tile');
      li.append(badge(m.release_status), node('strong', 'count', m.count),
                node('span', 'muted', m.avg_duration_minutes === null ? 'no duration'
                  : m.avg_duration_minutes === 0 ? 'avg < 1 s'
                  : 'avg ' + duration(Math.round(m.avg_duration_minutes * 60000))));
      list.append(li);
    }
    el('metrics-empty').hidden = data.metrics.length > 0;
  }

  // --- Refreshing: one refresh at a time; asks made meanwhile coalesce into one more ---

  let refreshing = null;
  let refreshAgain = false;
  let lastRefresh = 0;

  async function refreshOnce() {
    const seq = ++historySeq;
    const [queue, history, metrics] = await Promise.all([
      json('GET', '/queue'), json('GET', historyPath()), json('GET', '/metrics')]);
    for (const item of queue.queue) noteAttempt(item.git_commit_sha, item.attempt);
    if (queue.running) noteAttempt(queue.running.git_commit_sha, queue.running.attempt);
    renderQueue(queue);
    if (seq === historySeq) renderHistory(history);
    renderMetrics(metrics);
    const running = queue.running;
    if (running && (!followed || followed.sha !== running.git_commit_sha ||
                    followed.attempt !== running.attempt)) {
      follow(running);
    }
    renderNow(running);
    return queue;
  }

  function refresh() {
    if (refreshing) {
      refreshAgain = true;
      return refreshing;
    }
    refreshing = (async () => {
      try {
        let queue;
        do {
          refreshAgain = false;
          queue = await refreshOnce();
        } while (refreshAgain);
        return queue;
      } finally {
        refreshing = null;
        lastRefresh = Date.now();
      }
    })();
    return refreshing;
  }

  function refreshQuietly() {
    refresh().then(loopRecovered, (err) => say(describe(err), 'error'));
  }

  // After an action or an attempt's end: the watch loop looks at once (and, if something
  // runs now, long-polls it), or, when it is busy long-polling, a refresh runs beside it.
  function nudge() {
    if (wakeIdle) wakeIdle();
    else refreshQuietly();
  }

  // --- The watch loop ---

  let wakeIdle = null;

  function idle(ms) {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        if (wakeIdle === done) wakeIdle = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      wakeIdle = done;
    });
  }

  async function watch() {
    let failures = 0;
    for (;;) {
      const started = Date.now();
      let queue;
      try {
        queue = await refresh();
        failures = 0;
        loopRecovered();
      } catch (err) {
        failures += 1;
        const pause = pauseAfter(failures, err);
        loopFailed(err, pause);
        await idle(pause);
        continue;
      }
      if (queue.running) {
        try {  // answers when the running attempt is final, or after WAIT_S
          const resp = await call('GET', '/release?commit-sha=' + queue.running.git_commit_sha +
                                  '&wait=' + WAIT_S);
          if (!resp.ok && resp.status !== 404) throw await failure(resp);
          await resp.arrayBuffer();
          const pause = retryAfter(resp) * 1000;
          if (pause) await sleep(pause);
        } catch (err) {
          failures += 1;
          const pause = pauseAfter(failures, err);
          loopFailed(err, pause);
          await idle(pause);
          continue;
        }
      } else {
        await idle(document.hidden ? HIDDEN_IDLE_MS : IDLE_MS);
      }
      const spent = Date.now() - started;
      if (spent < 1000) await sleep(1000 - spent);  // never more than one round a second
    }
  }

  function onReturn() {
    if (document.hidden || Date.now() - lastRefresh < 2000) return;
    nudge();
  }

  document.addEventListener('visibilitychange', onReturn);
  window.addEventListener('focus', onReturn);
  watch();
})();
