// Studio's dashboard: plain DOM, no framework, no build step. Served by studiod under a strict CSP
// (script-src 'self'): no inline scripts or handlers, no eval. The API is docs/web-api.md.
(function () {
  'use strict';

  var API = '/api/v1';
  var POLL_MS = 3000;
  var LOG_MAX_LINES = 5000;

  // ---------------------------------------------------------------- small helpers

  function $(id) { return document.getElementById(id); }

  /** el('button', {class: 'x', dataset: {action: 'start'}, text: 'Start'}, [children]) */
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (key) {
        var value = attrs[key];
        if (value === undefined || value === null || value === false) return;
        if (key === 'text') node.textContent = value;
        else if (key === 'class') node.className = value;
        else if (key === 'dataset') Object.keys(value).forEach(function (k) { node.dataset[k] = value[k]; });
        else if (value === true) node.setAttribute(key, '');
        else node.setAttribute(key, value);
      });
    }
    (children || []).forEach(function (child) {
      if (child === null || child === undefined || child === false) return;
      node.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
    });
    return node;
  }

  function svgIcon(paths) {
    var ns = 'http://www.w3.org/2000/svg';
    var svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '0 0 20 20');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('class', 'icon');
    paths.forEach(function (d) {
      var path = document.createElementNS(ns, 'path');
      path.setAttribute('d', d);
      svg.appendChild(path);
    });
    return svg;
  }

  var ICONS = {
    terminal: ['M4.5 5.5l4.5 4.5-4.5 4.5', 'M10.5 14.5h5'],
    app: ['M11.5 3.5h5v5', 'M16.5 3.5 9.5 10.5', 'M14.5 11.5v5h-11v-11h5'],
    logs: ['M4 5h12', 'M4 8.5h12', 'M4 12h8', 'M4 15.5h10'],
    limits: ['M4 6h7', 'M14 6h2', 'M4 14h2', 'M9 14h7', 'M12.5 4v4', 'M7.5 12v4'],
    start: ['M6.5 4.5v11l9-5.5z'],
    stop: ['M5.5 5.5h9v9h-9z'],
    restart: ['M15.5 10a5.5 5.5 0 1 1-1.6-3.9', 'M14.5 3.5v3h-3'],
    delete: ['M4.5 6h11', 'M8 6V4.5h4V6', 'M6 6l.8 10h6.4L14 6'],
    root: ['M10 3l6 2.5v4c0 3.5-2.6 6.3-6 7.5-3.4-1.2-6-4-6-7.5v-4z', 'M7.5 10l2 2 3-3.5'],
    reset: ['M4.5 10a5.5 5.5 0 1 0 1.6-3.9', 'M5.5 3.5v3h3']
  };

  /** Bytes in systemd's notation, as studioctl writes them: 512M, 4G, 1.5G (base 1024). */
  function formatSize(bytes) {
    var units = [['T', 1099511627776], ['G', 1073741824], ['M', 1048576], ['K', 1024]];
    for (var i = 0; i < units.length; i++) {
      if (bytes >= units[i][1]) {
        var rounded = Math.round(bytes / units[i][1] * 10) / 10;
        return rounded + units[i][0];
      }
    }
    return bytes + 'B';
  }

  /** 73400320 → "70 MiB", for reading. */
  function formatBytes(bytes) {
    if (bytes === null || bytes === undefined) return 'n/a';
    var units = [['TiB', 1099511627776], ['GiB', 1073741824], ['MiB', 1048576], ['KiB', 1024]];
    for (var i = 0; i < units.length; i++) {
      if (bytes >= units[i][1]) {
        var value = bytes / units[i][1];
        return (value >= 100 ? Math.round(value) : Math.round(value * 10) / 10) + ' ' + units[i][0];
      }
    }
    return bytes + ' B';
  }

  /** "2G", "512M", "1.5G", "1024K", "2147483648", "2GB", "2 GiB" → bytes; null when it is not a size. */
  function parseSize(text) {
    var match = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([KMGT])?(?:i?B)?\s*$/i.exec(text);
    if (!match) return null;
    var factors = { K: 1024, M: 1048576, G: 1073741824, T: 1099511627776 };
    var value = parseFloat(match[1]) * (match[2] ? factors[match[2].toUpperCase()] : 1);
    if (!isFinite(value) || value <= 0) return null;
    return Math.round(value);
  }

  function formatDuration(seconds) {
    if (seconds === null || seconds === undefined || !isFinite(seconds)) return '';
    var s = Math.max(0, Math.floor(seconds));
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60), sec = s % 60;
    if (d > 0) return d + 'd ' + h + 'h';
    if (h > 0) return h + 'h ' + m + 'm';
    if (m > 0) return m + 'm ' + sec + 's';
    return sec + 's';
  }

  function formatCPUSeconds(seconds) {
    if (seconds === null || seconds === undefined) return 'n/a';
    if (seconds < 60) return (Math.round(seconds * 10) / 10) + ' s';
    return formatDuration(seconds);
  }

  function formatCPUs(cpus) {
    var rounded = Math.round(cpus * 100) / 100;
    return rounded + (rounded === 1 ? ' CPU' : ' CPUs');
  }

  function plural(n, word) { return n + ' ' + word + (n === 1 ? '' : 's'); }

  function isTransitional(state) { return state === 'starting' || state === 'stopping'; }

  // ---------------------------------------------------------------- idleness (the workspace's `idle`)

  function pad2(n) { return (n < 10 ? '0' : '') + n; }

  var WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

  /** An API time as the local clock reads it: "16:05" today, "Tue 16:05" within a week, else "2026-11-30 16:05". */
  function formatClock(iso) {
    var t = new Date(iso);
    if (isNaN(t.getTime())) return '';
    var clock = pad2(t.getHours()) + ':' + pad2(t.getMinutes());
    var today = new Date();
    if (t.toDateString() === today.toDateString()) return clock;
    if (Math.abs(t.getTime() - today.getTime()) < 6 * 86400000) return WEEKDAYS[t.getDay()] + ' ' + clock;
    return t.getFullYear() + '-' + pad2(t.getMonth() + 1) + '-' + pad2(t.getDate()) + ' ' + clock;
  }

  /** A span as people say it: "45 s", "30 min", "2 h", "1 h 30 min", "3 d", "1 d 4 h". */
  function formatSpan(seconds) {
    var s = Math.max(0, Math.round(seconds));
    if (s < 60) return s + ' s';
    var m = Math.round(s / 60);
    if (m < 60) return m + ' min';
    var d = Math.floor(m / 1440), h = Math.floor(m % 1440 / 60), min = m % 60;
    if (d > 0) return d + ' d' + (h ? ' ' + h + ' h' : '');
    return h + ' h' + (min ? ' ' + min + ' min' : '');
  }

  /** "just now", "3 min ago", "2 h ago" for an API time. */
  function formatAgo(iso) {
    var seconds = (Date.now() - new Date(iso).getTime()) / 1000;
    if (!isFinite(seconds)) return '';
    if (seconds < 45) return 'just now';
    return formatSpan(seconds < 5400 ? seconds : Math.round(seconds / 3600) * 3600) + ' ago';
  }

  /** An idle timeout as the settings form shows it: "0" (never), "30min", "2h", "1d", "90s". */
  function formatTimeout(seconds) {
    if (!seconds) return '0';
    if (seconds % 86400 === 0) return (seconds / 86400) + 'd';
    if (seconds % 3600 === 0) return (seconds / 3600) + 'h';
    if (seconds % 60 === 0) return (seconds / 60) + 'min';
    return seconds + 's';
  }

  /** "30min", "2h", "1.5h", "1d", "90s", "0" → seconds; null when it is not a span with a unit. */
  function parseTimeout(text) {
    var match = /^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hr|d|day|days)?\s*$/i.exec(text);
    if (!match) return null;
    var value = parseFloat(match[1]);
    if (!match[2]) return value === 0 ? 0 : null;
    var unit = match[2].toLowerCase();
    var factor = unit[0] === 's' ? 1 : unit[0] === 'm' ? 60 : unit[0] === 'h' ? 3600 : 86400;
    return Math.round(value * factor);
  }

  var SOURCES = { terminal: 'terminal input', exec: 'a command (exec)', app: 'app use', api: 'dashboard action' };

  /**
   * What the idle line of a workspace says: when it stops if nothing happens and what keeps it up, or how it was
   * stopped for idleness. { text, tone } with tone '' | 'kept' | 'stopped'.
   */
  function describeIdle(workspace) {
    var idle = workspace.idle;
    if (!idle) return { text: '', tone: '' };
    var running = workspace.state === 'running';
    if (!running) {
      if (idle.stoppedForIdleAt && idle.idleSince) {
        var idleFor = (new Date(idle.stoppedForIdleAt).getTime() - new Date(idle.idleSince).getTime()) / 1000;
        return { text: 'Stopped after ' + formatSpan(idleFor) + ' idle at ' + formatClock(idle.stoppedForIdleAt), tone: 'stopped' };
      }
      return { text: '', tone: '' };
    }
    if (!idle.timeoutSeconds) return { text: 'Never stopped for idleness', tone: '' };
    var parts = [];
    var keptNow = idle.keepUntil && new Date(idle.keepUntil).getTime() > Date.now();
    if (idle.stopsAt && idle.keptBy === 'keep') {
      parts.push('Kept until ' + formatClock(idle.stopsAt) + ', then stopped if idle');
    } else {
      parts.push(idle.stopsAt ? 'Stops at ' + formatClock(idle.stopsAt) + ' if idle'
        : 'Stops after ' + formatSpan(idle.timeoutSeconds) + ' idle');
      // A keep shorter than what holds it anyway, or one studio-idled has not seen yet.
      if (keptNow) parts.push('kept until ' + formatClock(idle.keepUntil));
    }
    if (idle.busy) {
      parts.push('busy now (CPU work)');
    } else if (idle.keptBy === 'work' && idle.lastWorkAt) {
      parts.push('CPU work ' + formatAgo(idle.lastWorkAt));
    }
    if (idle.lastActivityAt) {
      parts.push((SOURCES[idle.lastActivitySource] || 'activity') + ' ' + formatAgo(idle.lastActivityAt));
    } else if (idle.keptBy === 'started') {
      parts.push('no activity since it started');
    }
    return { text: parts.join(' · '), tone: keptNow ? 'kept' : '' };
  }

  // ---------------------------------------------------------------- API

  function ApiError(status, code, message, retryAfter) {
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.message = message;
    this.retryAfter = retryAfter;
    this.handled = false;
  }
  ApiError.prototype = Object.create(Error.prototype);

  /**
   * One API call. Sends JSON with `Content-Type: application/json` and the session cookie; resolves to the
   * decoded body (null for 204); rejects with an ApiError whose message is the API's own. A 401 ends the
   * session in the page (back to the login form) unless options.allow401.
   */
  function api(method, path, body, options) {
    var init = { method: method, credentials: 'same-origin', headers: { 'Accept': 'application/json' } };
    if (method !== 'GET' && method !== 'HEAD') {
      init.headers['Content-Type'] = 'application/json';
      if (body !== undefined) init.body = JSON.stringify(body);
    }
    return fetch(API + path, init).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        if (text) {
          try { data = JSON.parse(text); } catch (e) { data = null; }
        }
        if (response.ok) return data;
        var error = (data && data.error) || {};
        var message = error.message || ('The server answered ' + response.status + ' ' + response.statusText + '.');
        var failure = new ApiError(response.status, error.code || ('http_' + response.status), message,
          response.headers.get('Retry-After'));
        if (response.status === 401 && !(options && options.allow401)) {
          failure.handled = true;
          sessionEnded('Your session has ended. Sign in again.');
        }
        throw failure;
      });
    }, function (networkError) {
      throw new ApiError(0, 'network', 'Cannot reach Studio (' + (networkError && networkError.message || 'network error') + ').');
    });
  }

  function wsPath(name) { return '/workspaces/' + encodeURIComponent(name); }

  // ---------------------------------------------------------------- errors (#error)

  var errorBanner = $('error-banner');
  var errorText = $('error');

  function errorSlot() {
    if ($('limits-dialog').open) return $('limits-error-slot');
    if ($('reset-dialog').open) return $('reset-error-slot');
    if (!$('app-view').hidden) return $('app-error-slot');
    return $('login-error-slot');
  }

  function showError(message) {
    var slot = errorSlot();
    if (errorBanner.parentNode !== slot) slot.appendChild(errorBanner);
    errorText.textContent = message;
    errorBanner.hidden = false;
  }

  function clearError() {
    errorText.textContent = '';
    errorBanner.hidden = true;
  }

  /** Shows a failed call's message, unless it was a 401 already handled by returning to the login form. */
  function report(error) {
    if (error && error.handled) return;
    showError(error && error.message ? error.message : String(error));
    if (error && !(error instanceof ApiError)) console.error(error);
  }

  $('error-dismiss').addEventListener('click', clearError);

  // ---------------------------------------------------------------- state

  var state = {
    user: null,
    templates: [],
    defaultTemplate: null,
    images: null,          // name → image (GET /images), for the create form; null until loaded
    workspaces: [],        // as the API lists them
    byName: {},
    busy: {},              // name → "starting…" while an action of ours is in flight
    keeps: {},             // name → {keepUntil, answer, until}: a keep just made, until studio-idled has seen it
    loaded: false,
    pollTimer: null,
    route: null
  };

  // ---------------------------------------------------------------- views and session

  function showOnly(id) {
    ['loading-view', 'login-view', 'app-view'].forEach(function (view) { $(view).hidden = view !== id; });
  }

  function showLogin(message) {
    stopPolling();
    leaveView();
    state.user = null;
    state.workspaces = [];
    state.byName = {};
    state.busy = {};
    state.keeps = {};
    state.loaded = false;
    $('workspaces').textContent = '';
    if ($('limits-dialog').open) $('limits-dialog').close();
    if ($('reset-dialog').open) $('reset-dialog').close();
    showOnly('login-view');
    clearError();
    if (message) showError(message);
    $('password').value = '';
    var focus = $('username').value ? $('password') : $('username');
    focus.focus();
  }

  function sessionEnded(message) {
    if (!state.user) return;
    showLogin(message);
  }

  function showApp(session) {
    state.user = session.user;
    $('user-name').textContent = session.user && session.user.name || '';
    showOnly('app-view');
    clearError();
    loadTemplates();
    refreshWorkspaces();
    startPolling();
    applyRoute();
  }

  function checkSession() {
    api('GET', '/session', undefined, { allow401: true }).then(showApp, function (error) {
      showLogin(error.status === 401 ? '' : error.message);
    });
  }

  // ---------------------------------------------------------------- login and logout

  var retryTimer = null;

  $('login-form').addEventListener('submit', function (event) {
    event.preventDefault();
    var username = $('username').value.trim();
    var password = $('password').value;
    if (!username || !password) {
      showError(!username ? 'Enter your user name.' : 'Enter your password.');
      (!username ? $('username') : $('password')).focus();
      return;
    }
    var button = $('login-submit');
    button.disabled = true;
    button.classList.add('is-busy');
    clearError();
    api('POST', '/login', { username: username, password: password }, { allow401: true }).then(function (session) {
      button.disabled = false;
      button.classList.remove('is-busy');
      $('password').value = '';
      showApp(session);
    }, function (error) {
      button.classList.remove('is-busy');
      if (error.status === 429 && error.code !== 'busy') {
        var seconds = parseInt(error.retryAfter, 10);
        if (isFinite(seconds) && seconds > 0) {
          showError(error.message + ' Try again in ' + plural(seconds, 'second') + '.');
          clearTimeout(retryTimer);
          retryTimer = setTimeout(function () { button.disabled = false; }, seconds * 1000);
          return;
        }
      }
      button.disabled = false;
      showError(error.message);
      $('password').select();
    });
  });

  $('logout').addEventListener('click', function () {
    var button = $('logout');
    button.disabled = true;
    api('POST', '/logout', undefined, { allow401: true }).then(done, function (error) {
      if (error.status === 401) return done();
      button.disabled = false;
      report(error);
    });
    function done() {
      button.disabled = false;
      if (location.hash && location.hash !== '#/') history.replaceState(null, '', '#/');
      showLogin();
    }
  });

  // ---------------------------------------------------------------- templates and the create form

  function loadTemplates() {
    return api('GET', '/templates').then(function (data) {
      state.templates = (data && data.templates) || [];
      state.defaultTemplate = data && data.defaultTemplate;
      var select = $('create-template');
      var previous = select.value;
      select.textContent = '';
      state.templates.forEach(function (template) {
        select.appendChild(el('option', { value: template.name, text: template.name + ' — ' + backendLabel(template) }));
      });
      select.value = previous && state.templates.some(function (t) { return t.name === previous; })
        ? previous : (state.defaultTemplate || (state.templates[0] && state.templates[0].name) || '');
      describeTemplate();
      if (state.templates.some(function (t) { return t.backend === 'container'; })) loadImages();
    }, report);
  }

  /** "host", or "container · IMAGE": how a template or workspace runs. */
  function backendLabel(item) {
    if (item.backend === 'container') return 'container' + (item.image ? ' · ' + item.image : '');
    return item.backend || '';
  }

  /** The images, so that the create form can say whether a container template's image is there. Quietly: the
   * form works without it. */
  function loadImages() {
    return api('GET', '/images').then(function (data) {
      var images = {};
      ((data && data.images) || []).forEach(function (image) { images[image.name] = image; });
      state.images = images;
      describeTemplate();
    }, function () { /* not needed to create; the start says what is wrong */ });
  }

  function describeTemplate() {
    var name = $('create-template').value;
    var template = state.templates.filter(function (t) { return t.name === name; })[0];
    var parts = [];
    if (template && template.description) parts.push(template.description + (/[.!?]$/.test(template.description) ? '' : '.'));
    if (template && template.apps && template.apps.length) {
      parts.push('Apps: ' + template.apps.map(function (a) { return a.name; }).join(', ') + '.');
    }
    if (template && template.backend === 'container') {
      parts.push('Runs in a container on the image ' + template.image + ', with a root terminal inside (root of the container, not of this machine).');
      var image = state.images ? state.images[template.image] : undefined;
      if (state.images && !image) {
        parts.push('The image ' + template.image + ' is not there yet: an administrator makes it (sudo studioctl image build ' + template.image + ').');
      } else if (image && !image.usable) {
        parts.push('The image ' + template.image + ' cannot be used: ' + (image.problem || 'unknown problem') + '.');
      } else if (image && image.os) {
        parts.push('Image: ' + image.os + '.');
      }
    } else if (template && template.backend === 'host') {
      parts.push('Runs on this machine as you.');
    }
    $('create-template-description').textContent = parts.join(' ');
  }

  $('create-template').addEventListener('change', describeTemplate);

  // On a phone the form is below the list: this button takes you there.
  $('new-workspace').addEventListener('click', function () {
    $('create-form').scrollIntoView({ behavior: 'smooth', block: 'start' });
    $('create-name').focus({ preventScroll: true });
  });

  $('create-name').addEventListener('input', function () {
    var name = $('create-name').value.trim();
    $('create-directory').placeholder = '~/' + (name || 'NAME');
  });

  /** Reads the optional limit fields of a form; throws an Error with a message for a bad value. */
  function readLimits(memoryInput, cpusInput, tasksInput) {
    var limits = {};
    var memory = memoryInput.value.trim();
    if (memory) {
      var bytes = parseSize(memory);
      if (bytes === null) throw new Error('Memory: "' + memory + '" is not a size; write it like 2G or 512M.');
      limits.memoryMaxBytes = bytes;
    }
    var cpus = cpusInput.value.trim();
    if (cpus) {
      var cpuCount = Number(cpus);
      if (!isFinite(cpuCount) || cpuCount <= 0) throw new Error('CPUs: "' + cpus + '" is not a positive number (1.5 means one and a half CPUs).');
      limits.cpus = cpuCount;
    }
    var tasks = tasksInput.value.trim();
    if (tasks) {
      var taskCount = Number(tasks);
      if (!/^\d+$/.test(tasks) || taskCount < 1) throw new Error('Tasks: "' + tasks + '" is not a whole number of 1 or more.');
      limits.tasksMax = taskCount;
    }
    return limits;
  }

  $('create-form').addEventListener('submit', function (event) {
    event.preventDefault();
    clearError();
    var name = $('create-name').value.trim();
    if (!name) {
      showError('Enter a name for the workspace.');
      $('create-name').focus();
      return;
    }
    var body = { name: name };
    if ($('create-template').value) body.template = $('create-template').value;
    var directory = $('create-directory').value.trim();
    if (directory) body.projectDirectory = directory;
    var limits;
    try {
      limits = readLimits($('create-memory'), $('create-cpus'), $('create-tasks'));
    } catch (e) {
      showError(e.message);
      return;
    }
    if (Object.keys(limits).length) body.limits = limits;

    var button = $('create-submit');
    button.disabled = true;
    button.classList.add('is-busy');
    button.textContent = 'Creating…';
    function finish() {
      button.disabled = false;
      button.classList.remove('is-busy');
      button.textContent = 'Create and start';
    }
    api('POST', '/workspaces', body).then(function (workspace) {
      $('create-form').reset();
      $('create-directory').placeholder = '~/NAME';
      $('create-template').value = state.defaultTemplate || $('create-template').value;
      describeTemplate();
      upsertWorkspace(workspace);
      finish();
      return startWorkspace(workspace.name);
    }, function (error) {
      finish();
      report(error);
    });
  });

  // ---------------------------------------------------------------- workspaces: data

  function setWorkspaces(list) {
    // studio-idled reads a keep from the journal within seconds; until then a list may show its older view.
    var now = Date.now();
    list = list.map(function (w) {
      var keep = state.keeps[w.name];
      if (!keep) return w;
      if (now > keep.until || w.state !== 'running' || (w.idle && w.idle.keepUntil === keep.keepUntil)) {
        delete state.keeps[w.name];
        return w;
      }
      return Object.assign({}, w, { idle: keep.answer.idle });
    });
    state.workspaces = list.slice().sort(function (a, b) { return a.name < b.name ? -1 : a.name > b.name ? 1 : 0; });
    state.byName = {};
    state.workspaces.forEach(function (w) { state.byName[w.name] = w; });
    state.loaded = true;
    renderWorkspaces();
    updateTerminalTabs();
  }

  function upsertWorkspace(workspace) {
    if (!workspace || !workspace.name) return;
    var list = state.workspaces.filter(function (w) { return w.name !== workspace.name; });
    list.push(workspace);
    setWorkspaces(list);
  }

  function removeWorkspace(name) {
    setWorkspaces(state.workspaces.filter(function (w) { return w.name !== name; }));
  }

  var refreshing = null;
  function refreshWorkspaces() {
    if (!state.user) return Promise.resolve();
    if (refreshing) return refreshing;
    refreshing = api('GET', '/workspaces').then(function (data) {
      refreshing = null;
      if (state.user) setWorkspaces((data && data.workspaces) || []);
    }, function (error) {
      refreshing = null;
      report(error);
    });
    return refreshing;
  }

  // Every 3 s while the page is visible; every second while a workspace is on its way up or down.
  function startPolling() {
    stopPolling();
    if (document.visibilityState === 'hidden' || !state.user) return;
    var moving = state.workspaces.some(function (w) { return isTransitional(w.state); }) || Object.keys(state.busy).length > 0;
    state.pollTimer = setTimeout(function () {
      state.pollTimer = null;
      refreshWorkspaces().then(startPolling);
    }, moving ? 1000 : POLL_MS);
  }

  function stopPolling() {
    if (state.pollTimer) clearTimeout(state.pollTimer);
    state.pollTimer = null;
  }

  document.addEventListener('visibilitychange', function () {
    if (!state.user) return;
    if (document.visibilityState === 'hidden') {
      stopPolling();
    } else {
      refreshWorkspaces();
      startPolling();
    }
  });

  // ---------------------------------------------------------------- workspaces: actions

  function withBusy(name, label, promise) {
    state.busy[name] = label;
    renderWorkspaces();
    return promise.then(function (result) {
      delete state.busy[name];
      if (result && result.name) upsertWorkspace(result); else renderWorkspaces();
      startPolling();   // soon again: the state is probably on its way
      return result;
    }, function (error) {
      delete state.busy[name];
      renderWorkspaces();
      report(error);
    });
  }

  function startWorkspace(name) {
    clearError();
    return withBusy(name, 'starting…', api('POST', wsPath(name) + '/start'));
  }

  function lifecycle(name, action) {
    var labels = { start: 'starting…', stop: 'stopping…', restart: 'restarting…' };
    clearError();
    return withBusy(name, labels[action], api('POST', wsPath(name) + '/' + action));
  }

  /** Keep a running workspace from being stopped for idleness for SECONDS (0 ends a keep). */
  function keepWorkspace(name, seconds) {
    clearError();
    return withBusy(name, seconds ? 'keeping…' : 'ending keep…',
      api('POST', wsPath(name) + '/keep', { seconds: seconds }).then(function (workspace) {
        if (workspace && workspace.idle) {
          state.keeps[name] = { keepUntil: workspace.idle.keepUntil, answer: workspace, until: Date.now() + 15000 };
        }
        return workspace;
      }));
  }

  function deleteWorkspace(name) {
    var workspace = state.byName[name];
    var directory = workspace && workspace.projectDirectory ? workspace.projectDirectory : 'the project directory';
    var question = 'Delete the workspace "' + name + '"?' +
      (workspace && workspace.state !== 'stopped' && workspace.state !== 'failed' ? ' It is stopped first.' : '') +
      ' Its project directory ' + directory + ' is kept.';
    if (!window.confirm(question)) return;
    clearError();
    state.busy[name] = 'deleting…';
    renderWorkspaces();
    api('DELETE', wsPath(name)).then(function () {
      delete state.busy[name];
      removeWorkspace(name);
    }, function (error) {
      delete state.busy[name];
      renderWorkspaces();
      report(error);
    });
  }

  function openApp(name, app) {
    clearError();
    // Open the window now, within the click, so that no pop-up blocker stops it; point it at the ticket later.
    var win = window.open('', '_blank');
    if (win) {
      try {
        win.document.title = 'Opening ' + app + '…';
        win.document.body.textContent = 'Opening ' + app + ' of ' + name + '…';
        win.document.body.style.font = '15px system-ui, sans-serif';
        win.document.body.style.margin = '2em';
      } catch (e) { /* not ours to write to: no matter */ }
    }
    api('POST', wsPath(name) + '/apps/' + encodeURIComponent(app) + '/ticket').then(function (data) {
      if (win && !win.closed) {
        try { win.opener = null; } catch (e) { /* ignore */ }
        win.location.href = data.url;
      } else {
        window.location.href = data.url;
      }
    }, function (error) {
      if (win && !win.closed) win.close();
      report(error);
    });
  }

  $('workspaces').addEventListener('click', function (event) {
    var button = event.target.closest('[data-action]');
    if (!button || button.disabled) return;
    var item = button.closest('[data-workspace]');
    if (!item) return;
    var name = item.dataset.workspace;
    switch (button.dataset.action) {
      case 'start': case 'stop': case 'restart':
        lifecycle(name, button.dataset.action);
        break;
      case 'delete':
        deleteWorkspace(name);
        break;
      case 'terminal':
        navigate('#/w/' + encodeURIComponent(name) + '/terminal/' + encodeURIComponent(button.dataset.terminal || 'main'));
        break;
      case 'root-terminal':
        navigate(rootTerminalHash(name, ROOT_TERMINAL));
        break;
      case 'reset':
        openReset(name);
        break;
      case 'logs':
        navigate('#/w/' + encodeURIComponent(name) + '/logs');
        break;
      case 'limits':
        openLimits(name);
        break;
      case 'keep':
        keepWorkspace(name, Number(button.dataset.seconds));
        break;
      case 'app':
        openApp(name, button.dataset.app);
        break;
    }
  });

  // ---------------------------------------------------------------- workspaces: rendering

  function actionButton(action, label, options) {
    options = options || {};
    var attrs = {
      type: 'button',
      class: 'button small' + (options.kind ? ' ' + options.kind : ''),
      dataset: { action: action },
      title: options.title
    };
    if (options.terminal) attrs.dataset.terminal = options.terminal;
    if (options.app) attrs.dataset.app = options.app;
    var icon = ICONS[options.icon || action];
    return el('button', attrs, [icon ? svgIcon(icon) : null, el('span', { text: label })]);
  }

  function buildActions(workspace, busy) {
    var running = workspace.state === 'running';
    var stopped = workspace.state === 'stopped' || workspace.state === 'failed';
    var open = el('div', { class: 'actions-open' });
    var manage = el('div', { class: 'actions-manage' });

    if (stopped) {
      open.appendChild(actionButton('start', 'Start', { kind: 'primary' }));
    } else {
      var named = workspace.terminals || [];
      if (!named.some(function (t) { return t.name === 'main'; })) {
        open.appendChild(actionButton('terminal', 'Terminal', { kind: 'primary', terminal: 'main', title: 'Open a shell in ' + workspace.name }));
      }
      named.forEach(function (t) {
        open.appendChild(actionButton('terminal', t.title || t.name, { terminal: t.name, title: 'Open the terminal "' + t.name + '"' }));
      });
      if (running) {
        (workspace.apps || []).forEach(function (app) {
          open.appendChild(actionButton('app', app.name, { icon: 'app', app: app.name, title: 'Open the app "' + app.name + '" in a new tab' }));
        });
        if (workspace.backend === 'container') {
          open.appendChild(actionButton('root-terminal', 'Root terminal', {
            kind: 'root-ghost', icon: 'root', title: 'A shell as root inside the container (root of the container only, not of this machine)'
          }));
        }
      }
    }

    manage.appendChild(actionButton('logs', 'Logs'));
    manage.appendChild(actionButton('limits', 'Settings', { title: 'Limits and idle timeout' }));
    if (!stopped) {
      manage.appendChild(actionButton('restart', 'Restart'));
      manage.appendChild(actionButton('stop', 'Stop'));
    }
    if (stopped && workspace.backend === 'container') {
      manage.appendChild(actionButton('reset', 'Reset…', {
        kind: 'danger-ghost', title: 'Drop everything root installed or changed inside; start again from the image'
      }));
    }
    manage.appendChild(actionButton('delete', 'Delete', { kind: 'danger-ghost' }));

    var disabled = !!busy || isTransitional(workspace.state);
    [open, manage].forEach(function (group) {
      Array.prototype.forEach.call(group.querySelectorAll('button'), function (b) { b.disabled = disabled; });
    });
    return el('div', { class: 'ws-actions' }, [open, manage]);
  }

  /** Keep for 1 h / 3 h / 8 h, and End keep while a keep holds. */
  function buildKeep(kept, disabled) {
    var group = el('span', { class: 'keep', role: 'group', 'aria-label': 'Keep it from being stopped for idleness' }, [
      el('span', { class: 'keep-label', text: 'Keep for' })
    ]);
    [[3600, '1 h'], [10800, '3 h'], [28800, '8 h']].forEach(function (choice) {
      group.appendChild(el('button', {
        type: 'button', class: 'button tiny', dataset: { action: 'keep', seconds: String(choice[0]) },
        title: 'Do not stop it for idleness for ' + choice[1] + ' from now', text: choice[1], disabled: disabled
      }));
    });
    if (kept) {
      group.appendChild(el('button', {
        type: 'button', class: 'button tiny ghost', dataset: { action: 'keep', seconds: '0' },
        title: 'End the keep: it is stopped once it has been idle for its timeout', text: 'End keep', disabled: disabled
      }));
    }
    return group;
  }

  function metric(label, key) {
    return el('div', { class: 'metric metric-' + key }, [
      el('div', { class: 'metric-label', text: label }),
      el('div', { class: 'metric-value' }),
      el('div', { class: 'meter', 'aria-hidden': 'true' }, [el('div', { class: 'meter-fill' })])
    ]);
  }

  function buildItem(name) {
    var item = el('li', { class: 'ws-item', dataset: { workspace: name } }, [
      el('div', { class: 'ws-head' }, [
        el('div', { class: 'ws-title' }, [
          el('h3', { class: 'ws-name', text: name }),
          el('span', { class: 'state' }),
          el('span', { class: 'progress', hidden: true }, [el('span', { class: 'spinner', 'aria-hidden': 'true' }), el('span', { class: 'progress-text' })])
        ]),
        el('div', { class: 'ws-sub' }, [
          el('span', { class: 'ws-template' }),
          el('span', { class: 'ws-backend' }),
          el('span', { class: 'ws-directory' }),
          el('span', { class: 'uptime' })
        ]),
        el('div', { class: 'ws-idle' }, [
          el('span', { class: 'idle-text' }),
          el('span', { class: 'keep-slot' })
        ])
      ]),
      el('div', { class: 'ws-metrics' }, [
        metric('Memory', 'memory'),
        metric('CPU', 'cpu'),
        metric('Tasks', 'tasks'),
        metric('OOM kills', 'oom')
      ]),
      el('div', { class: 'ws-actions-slot' })
    ]);
    return item;
  }

  function setMetric(item, key, value, detail, fraction, tone) {
    var box = item.querySelector('.metric-' + key);
    var valueNode = box.querySelector('.metric-value');
    valueNode.textContent = value;
    if (detail) valueNode.appendChild(el('span', { class: 'metric-detail', text: detail }));
    var meter = box.querySelector('.meter');
    if (fraction === null || fraction === undefined) {
      meter.hidden = true;
    } else {
      meter.hidden = false;
      var fill = meter.firstChild;
      var pct = Math.max(0, Math.min(1, fraction)) * 100;
      fill.style.width = pct.toFixed(1) + '%';
      fill.className = 'meter-fill' + (pct >= 90 ? ' is-high' : pct >= 70 ? ' is-mid' : '');
    }
    box.classList.toggle('is-warn', tone === 'warn');
  }

  function updateItem(item, workspace) {
    var busy = state.busy[workspace.name];
    var running = workspace.state === 'running';
    var usage = workspace.usage || {};
    var limits = workspace.limits || {};
    var live = workspace.state !== 'stopped' && workspace.state !== 'failed' && workspace.usage;

    item.className = 'ws-item is-' + workspace.state;

    var badge = item.querySelector('.state');
    badge.textContent = workspace.state;
    badge.className = 'state state-' + workspace.state;

    var progressText = busy || (isTransitional(workspace.state) ? workspace.state + '…' : '');
    var progress = item.querySelector('.progress');
    progress.hidden = !progressText;
    progress.querySelector('.progress-text').textContent = progressText;

    item.querySelector('.ws-template').textContent = workspace.template || '';
    var backend = item.querySelector('.ws-backend');
    backend.textContent = backendLabel(workspace);
    backend.title = workspace.backend === 'container'
      ? 'Runs in a container on the image ' + workspace.image + ' (root inside is not root on this machine)'
      : workspace.backend === 'host' ? 'Runs on this machine as you' : '';
    var directory = item.querySelector('.ws-directory');
    directory.textContent = workspace.projectDirectory || '';
    directory.title = workspace.projectDirectory || '';
    var uptime = item.querySelector('.uptime');
    uptime.textContent = running && workspace.uptimeSeconds !== null && workspace.uptimeSeconds !== undefined
      ? 'up ' + formatDuration(workspace.uptimeSeconds) : '';
    uptime.hidden = !uptime.textContent;

    // Memory: used / MemoryMax.
    var memMax = limits.memoryMaxBytes;
    var memUsed = live ? usage.memoryBytes : null;
    setMetric(item, 'memory',
      live ? formatBytes(memUsed) : '–',
      ' / ' + (memMax ? formatBytes(memMax) : 'no limit'),
      live && memMax && memUsed !== null && memUsed !== undefined ? memUsed / memMax : null);

    // CPU: seconds used; the quota beside it.
    setMetric(item, 'cpu',
      live ? formatCPUSeconds(usage.cpuSeconds) : '–',
      limits.cpus ? ' · ' + formatCPUs(limits.cpus) : ' · no limit', null);

    // Tasks: current / TasksMax.
    var tasksMax = limits.tasksMax;
    var tasks = live ? usage.tasks : null;
    setMetric(item, 'tasks',
      live ? (tasks === null || tasks === undefined ? 'n/a' : String(tasks)) : '–',
      ' / ' + (tasksMax ? String(tasksMax) : 'no limit'),
      live && tasksMax && tasks !== null && tasks !== undefined ? tasks / tasksMax : null);

    // OOM kills: only when there were some.
    var oom = usage.oomKills || 0;
    item.querySelector('.metric-oom').hidden = !(oom > 0);
    if (oom > 0) setMetric(item, 'oom', String(oom), oom === 1 ? ' process killed' : ' processes killed', null, 'warn');

    // Idleness: when it stops if nothing happens, what keeps it up; the keep buttons while it runs.
    var idle = describeIdle(workspace);
    var idleLine = item.querySelector('.ws-idle');
    var idleText = item.querySelector('.idle-text');
    idleText.textContent = idle.text;
    idleLine.className = 'ws-idle' + (idle.tone ? ' is-' + idle.tone : '');
    var keepable = running && workspace.idle && workspace.idle.timeoutSeconds > 0;
    var kept = keepable && workspace.idle.keepUntil && new Date(workspace.idle.keepUntil).getTime() > Date.now();
    var keepKey = JSON.stringify([keepable, !!kept, busy || '']);
    if (idleLine.dataset.keepKey !== keepKey) {
      idleLine.dataset.keepKey = keepKey;
      var keepSlot = item.querySelector('.keep-slot');
      keepSlot.textContent = '';
      if (keepable) keepSlot.appendChild(buildKeep(!!kept, !!busy));
    }
    idleLine.hidden = !idle.text;

    var key = JSON.stringify([workspace.state, busy || '', workspace.terminals || [], workspace.apps || [], workspace.backend || null]);
    if (item.dataset.actionsKey !== key) {
      item.dataset.actionsKey = key;
      var slot = item.querySelector('.ws-actions-slot');
      slot.textContent = '';
      slot.appendChild(buildActions(workspace, busy));
    }
  }

  function renderWorkspaces() {
    var list = $('workspaces');
    var existing = {};
    Array.prototype.forEach.call(list.children, function (item) { existing[item.dataset.workspace] = item; });
    state.workspaces.forEach(function (workspace, index) {
      var item = existing[workspace.name] || buildItem(workspace.name);
      delete existing[workspace.name];
      updateItem(item, workspace);
      if (list.children[index] !== item) list.insertBefore(item, list.children[index] || null);
    });
    Object.keys(existing).forEach(function (name) { existing[name].remove(); });
    $('workspaces-empty').hidden = !state.loaded || state.workspaces.length > 0;
    var running = state.workspaces.filter(function (w) { return w.state === 'running'; }).length;
    $('workspaces-count').textContent = state.workspaces.length
      ? running + ' of ' + state.workspaces.length + ' running' : '';
  }

  // ---------------------------------------------------------------- limits dialog

  var limitsTarget = null;

  function openLimits(name) {
    var workspace = state.byName[name];
    if (!workspace) return;
    limitsTarget = name;
    clearError();
    var limits = workspace.limits || {};
    $('limits-workspace').textContent = name;
    $('limits-memory').value = limits.memoryMaxBytes ? formatSize(limits.memoryMaxBytes) : '';
    $('limits-cpus').value = limits.cpus ? String(limits.cpus) : '';
    $('limits-tasks').value = limits.tasksMax ? String(limits.tasksMax) : '';
    $('limits-memory').placeholder = limits.memoryMaxBytes ? 'e.g. 2G or 512M' : 'no limit (e.g. 2G or 512M)';
    $('limits-cpus').placeholder = limits.cpus ? 'e.g. 2' : 'no limit (e.g. 2)';
    $('limits-tasks').placeholder = limits.tasksMax ? 'e.g. 512' : 'no limit (e.g. 512)';
    var timeout = workspace.idle ? workspace.idle.timeoutSeconds : null;
    $('limits-idle').value = timeout === null || timeout === undefined ? '' : formatTimeout(timeout);
    $('limits-idle').dataset.initial = $('limits-idle').value;
    $('limits-dialog').showModal();
    $('limits-memory').focus();
  }

  function closeLimits() {
    if ($('limits-dialog').open) $('limits-dialog').close();
  }

  $('limits-dialog').addEventListener('close', function () {
    limitsTarget = null;
    if (errorBanner.parentNode === $('limits-error-slot')) clearError();
  });

  $('limits-cancel').addEventListener('click', closeLimits);

  $('limits-form').addEventListener('submit', function (event) {
    event.preventDefault();
    var name = limitsTarget;
    if (!name) return;
    clearError();
    var limits;
    try {
      limits = readLimits($('limits-memory'), $('limits-cpus'), $('limits-tasks'));
    } catch (e) {
      showError(e.message);
      return;
    }
    var body = {};
    if (Object.keys(limits).length) body.limits = limits;
    var idleText = $('limits-idle').value.trim();
    // Sent only when changed: the timeout shown may be the template's or studio.conf's, and sending it back would
    // make it the workspace's own.
    if (idleText !== ($('limits-idle').dataset.initial || '')) {
      var seconds = parseTimeout(idleText);
      if (seconds === null) {
        showError('Idle timeout: "' + idleText + '" is not a time span; write it like 30min, 2h or 1d, or 0 for never.');
        return;
      }
      body.idleTimeoutSeconds = seconds;
    }
    if (!Object.keys(body).length) {
      showError('Enter a limit (memory like 2G, CPUs or tasks) or an idle timeout.');
      return;
    }
    var button = $('limits-submit');
    button.disabled = true;
    api('PATCH', wsPath(name), body).then(function (workspace) {
      button.disabled = false;
      closeLimits();
      upsertWorkspace(workspace);
    }, function (error) {
      button.disabled = false;
      report(error);
    });
  });

  // ---------------------------------------------------------------- reset dialog (container workspaces)

  var resetTarget = null;

  function openReset(name) {
    var workspace = state.byName[name];
    if (!workspace) return;
    resetTarget = name;
    clearError();
    $('reset-workspace').textContent = name;
    $('reset-image').textContent = workspace.image || 'its image';
    $('reset-directory').textContent = workspace.projectDirectory || 'the project directory';
    $('reset-home').checked = false;
    $('reset-submit').disabled = false;
    $('reset-dialog').showModal();
    $('reset-cancel').focus();
  }

  function closeReset() {
    if ($('reset-dialog').open) $('reset-dialog').close();
  }

  $('reset-dialog').addEventListener('close', function () {
    resetTarget = null;
    if (errorBanner.parentNode === $('reset-error-slot')) clearError();
  });

  $('reset-cancel').addEventListener('click', closeReset);

  $('reset-form').addEventListener('submit', function (event) {
    event.preventDefault();
    var name = resetTarget;
    if (!name) return;
    clearError();
    var button = $('reset-submit');
    button.disabled = true;
    var home = $('reset-home').checked;
    state.busy[name] = 'resetting…';
    renderWorkspaces();
    api('POST', wsPath(name) + '/reset', { home: home }).then(function (workspace) {
      delete state.busy[name];
      button.disabled = false;
      closeReset();
      upsertWorkspace(workspace);
    }, function (error) {
      delete state.busy[name];
      button.disabled = false;
      renderWorkspaces();
      report(error);
    });
  });

  // ---------------------------------------------------------------- router

  function parseRoute() {
    var parts = location.hash.replace(/^#\/?/, '').split('/').filter(function (p) { return p !== ''; });
    try {
      parts = parts.map(decodeURIComponent);
    } catch (e) {
      return { view: 'dashboard' };
    }
    if (parts[0] === 'w' && parts[1]) {
      if (parts[2] === 'terminal') return { view: 'terminal', workspace: parts[1], terminal: parts[3] || 'main', root: false };
      // A root terminal inside a container workspace (root=1 on the terminal's WebSocket).
      if (parts[2] === 'root') return { view: 'terminal', workspace: parts[1], terminal: parts[3] || ROOT_TERMINAL, root: true };
      if (parts[2] === 'logs') return { view: 'logs', workspace: parts[1] };
    }
    return { view: 'dashboard' };
  }

  function navigate(hash) {
    if (location.hash === hash) applyRoute(); else location.hash = hash;
  }

  window.addEventListener('hashchange', function () {
    if (state.user) applyRoute();
  });

  function applyRoute() {
    var route = parseRoute();
    var previous = state.route;
    state.route = route;
    ['dashboard-view', 'terminal-view', 'logs-view'].forEach(function (id) {
      $(id).hidden = id !== route.view + '-view';
    });
    document.body.classList.toggle('full-height', route.view !== 'dashboard');
    if (route.view === 'terminal') {
      if (!previous || previous.view !== 'terminal' || previous.workspace !== route.workspace) leaveView();
      enterTerminal(route.workspace, route.terminal, route.root);
      document.title = (route.root ? 'root@' + route.workspace + ' · ' + route.terminal : route.terminal + ' · ' + route.workspace) + ' · Studio';
    } else if (route.view === 'logs') {
      leaveView();
      enterLogs(route.workspace);
      document.title = 'Logs · ' + route.workspace + ' · Studio';
    } else {
      leaveView();
      document.title = 'Studio';
    }
  }

  function leaveView() {
    closeTerminal();
    closeLogs();
  }

  // ---------------------------------------------------------------- terminals

  var term = {
    workspace: null,
    name: null,
    xterm: null,
    socket: null,
    decoder: null,
    exited: false,
    attempt: 0,
    retryTimer: null,
    openedAt: 0,
    known: [],          // terminal names the agent holds, from GET …/terminals
    roots: {},          // name → true for the root terminals among them (root=1)
    root: false,        // whether the terminal shown is one
    generation: 0
  };

  /** The terminal studioctl shell --root opens, and the dashboard's Root terminal. */
  var ROOT_TERMINAL = 'root';

  function rootTerminalHash(workspace, name) {
    return '#/w/' + encodeURIComponent(workspace) + '/root/' + encodeURIComponent(name);
  }

  var encoder = new TextEncoder();

  function terminalLibrary() {
    return typeof window.Terminal === 'function' ? window.Terminal : null;
  }

  function setTerminalStatus(text, tone) {
    var badge = $('terminal-status');
    badge.textContent = text || '';
    badge.hidden = !text;
    badge.className = 'badge ' + (tone === 'error' ? 'badge-error' : tone === 'ok' ? 'badge-ok' : 'badge-warn');
  }

  function terminalMissing(container, detail) {
    container.textContent = '';
    container.appendChild(el('div', { class: 'terminal-missing' }, [
      el('strong', { text: 'The terminal library did not load.' }),
      el('span', { text: ' /vendor/xterm/xterm.js is missing or broken on this server; check the studio package\'s xterm.js installation.' + (detail ? ' (' + detail + ')' : '') })
    ]));
    return null;
  }

  function createXterm() {
    try {
      return makeXterm();
    } catch (e) {
      console.error(e);
      return terminalMissing($('terminal'), e && e.message);
    }
  }

  function makeXterm() {
    var Terminal = terminalLibrary();
    var container = $('terminal');
    container.textContent = '';
    if (!Terminal) return terminalMissing(container);
    var fitAddon = null;
    // xterm 3.x's fit addon as a UMD module is the global object `fit` ({fit, apply, proposeGeometry}). Debian's
    // CommonJS file, loaded as a classic script, throws on `exports` but leaves a global function fit(term) behind.
    var fitModule = window.fit && typeof window.fit === 'object' && typeof window.fit.fit === 'function' ? window.fit : null;
    var fitFunction = !fitModule && typeof window.fit === 'function' ? window.fit : null;
    if (fitModule && typeof Terminal.applyAddon === 'function' && !Terminal.prototype.fit) Terminal.applyAddon(fitModule);
    var xterm = new Terminal({
      cursorBlink: true,
      fontFamily: 'ui-monospace, "SFMono-Regular", "Cascadia Mono", "DejaVu Sans Mono", "Liberation Mono", Menlo, Consolas, monospace',
      fontSize: 14,
      lineHeight: 1.1,
      scrollback: 5000,
      // The DOM renderer keeps the screen's text in the page (.xterm-rows): selectable, searchable, testable.
      rendererType: 'dom',
      theme: {
        background: '#0f1218', foreground: '#d8dee9', cursor: '#e5e9f0', cursorAccent: '#0f1218', selection: 'rgba(129, 161, 193, 0.35)',
        black: '#1c2029', red: '#e06c75', green: '#98c379', yellow: '#e5c07b', blue: '#61afef', magenta: '#c678dd', cyan: '#56b6c2', white: '#d8dee9',
        brightBlack: '#5c6370', brightRed: '#ef8189', brightGreen: '#a8d58a', brightYellow: '#f0d08d', brightBlue: '#7cc0ff', brightMagenta: '#d69ae8', brightCyan: '#6fcbd6', brightWhite: '#ffffff'
      }
    });
    // xterm 4/5 take addons as objects; 3.x (Debian's) patches the prototype with Terminal.applyAddon(fit).
    if (typeof xterm.loadAddon === 'function' && window.FitAddon && window.FitAddon.FitAddon) {
      fitAddon = new window.FitAddon.FitAddon();
      xterm.loadAddon(fitAddon);
    }
    xterm.open(container);
    xterm.studioFit = function () {
      try {
        if (fitAddon) fitAddon.fit();
        else if (typeof xterm.fit === 'function') xterm.fit();
        else if (fitFunction) fitFunction(xterm);
        else fallbackFit(xterm, container);
      } catch (e) { /* not laid out yet */ }
    };
    onTerminalEvent(xterm, 'data', function (data) {
      if (term.socket && term.socket.readyState === WebSocket.OPEN) term.socket.send(encoder.encode(data));
    });
    onTerminalEvent(xterm, 'resize', function (size) {
      sendResize(size.cols, size.rows);
    });
    return xterm;
  }

  /** xterm 3.x: term.on('data', …); 4/5: term.onData(…). */
  function onTerminalEvent(xterm, name, handler) {
    var modern = 'on' + name.charAt(0).toUpperCase() + name.slice(1);
    if (typeof xterm[modern] === 'function') xterm[modern](handler);
    else xterm.on(name, handler);
  }

  /** Without a fit addon: measure a cell from the rendered rows and resize to the container. */
  function fallbackFit(xterm, container) {
    var core = xterm._core;
    var dims = core && core.renderer && core.renderer.dimensions;
    if (!dims || !dims.actualCellWidth) return;
    var cols = Math.max(2, Math.floor((container.clientWidth - 14) / dims.actualCellWidth));
    var rows = Math.max(1, Math.floor(container.clientHeight / dims.actualCellHeight));
    if (cols !== xterm.cols || rows !== xterm.rows) xterm.resize(cols, rows);
  }

  function sendResize(cols, rows) {
    if (term.socket && term.socket.readyState === WebSocket.OPEN) {
      term.socket.send(JSON.stringify({ type: 'resize', cols: cols, rows: rows }));
    }
  }

  function enterTerminal(workspace, name, root) {
    clearError();
    var title = $('terminal-title');
    title.textContent = root ? 'root@' + workspace : workspace;
    title.title = root ? 'root inside the container of ' + workspace + ' (not root of this machine)' : '';
    title.classList.toggle('is-root', !!root);
    var sameWorkspace = term.workspace === workspace && term.xterm;
    if (sameWorkspace && term.name === name && term.root === !!root) {
      term.xterm.focus();
      return;
    }
    if (!sameWorkspace) {
      term.workspace = workspace;
      term.known = [];
      term.roots = {};
      term.xterm = createXterm();
      loadTerminalList();
    }
    switchTerminal(name, !!root);
  }

  function switchTerminal(name, root) {
    disconnect();
    term.name = name;
    term.root = root;
    if (root) term.roots[name] = true;
    if (term.known.indexOf(name) < 0) term.known.push(name);
    updateTerminalTabs();
    if (!term.xterm) return;
    term.xterm.reset();
    // Fit before connecting, so the first size the server sees is the real one.
    requestAnimationFrame(function () {
      term.xterm.studioFit();
      connect(false);
      term.xterm.focus();
    });
  }

  function loadTerminalList() {
    var workspace = term.workspace;
    return api('GET', wsPath(workspace) + '/terminals').then(function (data) {
      if (term.workspace !== workspace) return;
      ((data && data.terminals) || []).forEach(function (t) {
        if (term.known.indexOf(t.name) < 0) term.known.push(t.name);
        if (t.root) term.roots[t.name] = true;
      });
      updateTerminalTabs();
    }, function (error) {
      if (error.handled || error.status === 409) return; // not running: the socket says so too
      report(error);
    });
  }

  function terminalTitle(name) {
    var workspace = state.byName[term.workspace];
    var named = workspace && (workspace.terminals || []).filter(function (t) { return t.name === name; })[0];
    return named && named.title ? named.title : name;
  }

  function nextTerminalName() {
    if (term.known.indexOf('main') < 0) return 'main';
    for (var i = 2; ; i++) {
      if (term.known.indexOf(String(i)) < 0) return String(i);
    }
  }

  function updateTerminalTabs() {
    if (!term.workspace || $('terminal-view').hidden) return;
    var tabs = $('terminal-tabs');
    var names = term.known.slice().sort(function (a, b) {
      var rank = function (n) { return n === 'main' ? 0 : /^\d+$/.test(n) ? 1 : 2; };
      return rank(a) - rank(b) || (rank(a) === 1 ? Number(a) - Number(b) : a < b ? -1 : a > b ? 1 : 0);
    });
    var key = JSON.stringify([names, term.name, term.root, names.map(terminalTitle), names.map(function (n) { return !!term.roots[n]; })]);
    if (tabs.dataset.key === key) return;
    tabs.dataset.key = key;
    tabs.textContent = '';
    names.forEach(function (name) {
      var active = name === term.name;
      var root = !!term.roots[name];
      tabs.appendChild(el('button', {
        type: 'button', role: 'tab', class: 'tab' + (active ? ' is-active' : '') + (root ? ' is-root' : ''),
        'aria-selected': active ? 'true' : 'false', dataset: { terminal: name, root: root ? '1' : '0' },
        title: (terminalTitle(name) !== name ? terminalTitle(name) + ' (' + name + ')' : name) + (root ? ', as root inside the container' : '')
      }, [svgIcon(root ? ICONS.root : ICONS.terminal), el('span', { text: terminalTitle(name) })]));
    });
    tabs.appendChild(el('button', {
      type: 'button', class: 'tab tab-new', dataset: { action: 'new-terminal' },
      title: 'New terminal', 'aria-label': 'New terminal'
    }, ['+']));
  }

  $('terminal-tabs').addEventListener('click', function (event) {
    var button = event.target.closest('button');
    if (!button || !term.workspace) return;
    var name = button.dataset.action === 'new-terminal' ? nextTerminalName() : button.dataset.terminal;
    if (!name) return;
    if (name === term.name) { if (term.xterm) term.xterm.focus(); return; }
    if (button.dataset.root === '1') navigate(rootTerminalHash(term.workspace, name));
    else navigate('#/w/' + encodeURIComponent(term.workspace) + '/terminal/' + encodeURIComponent(name));
  });

  // The workspace was not running: start it, wait until it runs, then connect.
  $('terminal-start').addEventListener('click', function () {
    var workspace = term.workspace;
    if (!workspace) return;
    var button = $('terminal-start');
    button.disabled = true;
    clearError();
    setTerminalStatus('starting…', 'warn');
    var generation = term.generation;
    var deadline = Date.now() + 120000;
    function done() { button.disabled = false; button.hidden = true; }
    function check(info) {
      if (term.workspace !== workspace || term.generation !== generation) return done();
      if (info && info.name) upsertWorkspace(info);
      if (info && info.state === 'running') {
        done();
        if (term.xterm) term.xterm.reset();
        connect(false);
        if (term.xterm) term.xterm.focus();
      } else if (info && (info.state === 'failed' || info.state === 'stopped')) {
        button.disabled = false;
        setTerminalStatus(info.state, 'error');
        showError('The workspace "' + workspace + '" did not start (' + info.state + '); its logs may say why.');
      } else if (Date.now() > deadline) {
        button.disabled = false;
        setTerminalStatus(info ? info.state : 'not running', 'error');
      } else {
        setTimeout(function () { api('GET', wsPath(workspace)).then(check, fail); }, 1000);
      }
    }
    function fail(error) {
      button.disabled = false;
      setTerminalStatus('not running', 'error');
      report(error);
    }
    api('POST', wsPath(workspace) + '/start').then(check, fail);
  });

  $('terminal-reopen').addEventListener('click', function () {
    if (!term.workspace || !term.name) return;
    $('terminal-reopen').hidden = true;
    if (term.xterm) term.xterm.reset();
    connect(false);
    if (term.xterm) term.xterm.focus();
  });

  function connect(isRetry) {
    if (!term.xterm || !term.workspace) return;
    var generation = ++term.generation;
    var workspace = term.workspace, name = term.name;
    term.exited = false;
    $('terminal-reopen').hidden = true;
    $('terminal-start').hidden = true;
    setTerminalStatus(isRetry ? 'reconnecting…' : 'connecting…', 'warn');
    var scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    var url = scheme + '//' + location.host + API + wsPath(workspace) + '/terminals/' + encodeURIComponent(name) +
      '?cols=' + term.xterm.cols + '&rows=' + term.xterm.rows + (term.root ? '&root=1' : '');
    var socket;
    try {
      socket = new WebSocket(url);
    } catch (e) {
      setTerminalStatus('cannot connect', 'error');
      report(e);
      return;
    }
    socket.binaryType = 'arraybuffer';
    term.socket = socket;
    term.decoder = new TextDecoder('utf-8');
    var opened = false;

    socket.addEventListener('open', function () {
      if (generation !== term.generation) return;
      opened = true;
      term.openedAt = Date.now();
      setTerminalStatus('', 'ok');
      // The server replays the scrollback on connect: start from a clean screen.
      if (isRetry) term.xterm.reset();
      sendResize(term.xterm.cols, term.xterm.rows);
    });

    socket.addEventListener('message', function (event) {
      if (generation !== term.generation) return;
      if (typeof event.data === 'string') {
        var message;
        try { message = JSON.parse(event.data); } catch (e) { return; }
        if (message.type === 'exit') {
          term.exited = true;
          var code = message.code === undefined || message.code === null ? '?' : message.code;
          term.xterm.write(term.decoder.decode() + '\r\n\x1b[2m[process exited with code ' + code + ']\x1b[0m\r\n');
          setTerminalStatus('exited with code ' + code, 'error');
          $('terminal-reopen').hidden = false;
        } else if (message.type === 'error') {
          term.xterm.write('\r\n\x1b[31m' + (message.message || 'error') + '\x1b[0m\r\n');
          showError(message.message || 'The terminal reported an error.');
        }
        return;
      }
      term.xterm.write(term.decoder.decode(new Uint8Array(event.data), { stream: true }));
    });

    socket.addEventListener('close', function () {
      if (generation !== term.generation) return;
      term.socket = null;
      if (term.exited) return;
      // A connection that held for a while starts the backoff anew; one that keeps failing waits longer.
      if (opened && Date.now() - term.openedAt > 5000) term.attempt = 0;
      if (!opened) {
        // The upgrade was refused (401, 404, 409…): ask the API why before trying again.
        diagnose(workspace, generation);
      } else {
        scheduleReconnect();
      }
    });
  }

  function scheduleReconnect() {
    var delay = Math.min(10, Math.pow(2, term.attempt)) * 1000;   // 1 s, 2 s, 4 s, 8 s, 10 s, 10 s…
    term.attempt++;
    setTerminalStatus('reconnecting…', 'warn');
    clearTimeout(term.retryTimer);
    term.retryTimer = setTimeout(function () {
      term.retryTimer = null;
      if (term.workspace && !term.socket) connect(true);
    }, delay);
  }

  function diagnose(workspace, generation) {
    api('GET', wsPath(workspace)).then(function (info) {
      if (generation !== term.generation || term.workspace !== workspace) return;
      if (info && info.state !== 'running' && info.state !== 'starting') {
        setTerminalStatus(info.state, 'error');
        $('terminal-start').hidden = !(info.state === 'stopped' || info.state === 'failed');
        $('terminal-reopen').hidden = !$('terminal-start').hidden;
        if (term.xterm) term.xterm.write('\x1b[2mThe workspace "' + workspace + '" is ' + info.state + '.\x1b[0m\r\n');
        return;
      }
      scheduleReconnect();
    }, function (error) {
      if (generation !== term.generation) return;
      if (error.handled) return;
      if (error.status === 404) {
        setTerminalStatus('no such workspace', 'error');
        report(error);
        return;
      }
      scheduleReconnect();
    });
  }

  function disconnect() {
    term.generation++;
    clearTimeout(term.retryTimer);
    term.retryTimer = null;
    term.attempt = 0;
    if (term.socket) {
      try { term.socket.close(1000); } catch (e) { /* already closed */ }
    }
    term.socket = null;
    setTerminalStatus('');
  }

  function closeTerminal() {
    disconnect();
    if (term.xterm) {
      try { term.xterm.dispose(); } catch (e) { /* gone */ }
    }
    term.xterm = null;
    term.workspace = null;
    term.name = null;
    term.known = [];
    term.roots = {};
    term.root = false;
    $('terminal').textContent = '';
    $('terminal-tabs').textContent = '';
    delete $('terminal-tabs').dataset.key;
    $('terminal-reopen').hidden = true;
    $('terminal-start').hidden = true;
  }

  // Fit the terminal to its box: on window resizes, and when the box changes otherwise (the error banner).
  var resizeTimer = null;
  function scheduleFit() {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () {
      if (term.xterm && !$('terminal-view').hidden) term.xterm.studioFit();
    }, 80);
  }
  window.addEventListener('resize', scheduleFit);
  if (typeof ResizeObserver === 'function') new ResizeObserver(scheduleFit).observe($('terminal'));

  // ---------------------------------------------------------------- logs

  var logs = { source: null, workspace: null };

  function enterLogs(workspace) {
    clearError();
    logs.workspace = workspace;
    $('logs-title').textContent = 'Logs of ' + workspace;
    var box = $('logs');
    box.textContent = '';
    setLogsStatus('connecting…', 'warn');
    var url = API + wsPath(workspace) + '/logs?lines=200&follow=1';
    var source = new EventSource(url, { withCredentials: true });
    logs.source = source;
    var failures = 0;

    source.addEventListener('open', function () {
      if (logs.source !== source) return;
      // On a reconnect the server sends the last 200 lines again: start over rather than repeat them.
      if (failures > 0) box.textContent = '';
      failures = 0;
      setLogsStatus('following', 'ok');
    });

    source.addEventListener('message', function (event) {
      if (logs.source !== source) return;
      var line;
      try { line = JSON.parse(event.data); } catch (e) { line = { message: event.data }; }
      appendLogLine(box, line);
    });

    source.addEventListener('error', function () {
      if (logs.source !== source) return;
      failures++;
      if (source.readyState === EventSource.CLOSED) {
        // Refused outright (401, 404…): EventSource gives no status, so ask the API.
        setLogsStatus('stopped', 'error');
        api('GET', wsPath(workspace)).then(function () {
          if (logs.source === source) showError('The log stream of "' + workspace + '" closed. Reopen the logs to follow them again.');
        }, report);
      } else {
        setLogsStatus('reconnecting…', 'warn');
      }
    });
  }

  function setLogsStatus(text, tone) {
    var badge = $('logs-status');
    badge.textContent = text;
    badge.hidden = !text;
    badge.className = 'badge ' + (tone === 'error' ? 'badge-error' : tone === 'ok' ? 'badge-ok' : 'badge-warn');
  }

  function formatLogTime(value) {
    if (value === null || value === undefined) return '';
    var date = typeof value === 'number' ? new Date(value > 1e14 ? value / 1000 : value > 1e11 ? value : value * 1000) : new Date(value);
    if (isNaN(date.getTime())) return String(value);
    var pad = function (n) { return (n < 10 ? '0' : '') + n; };
    return date.toLocaleDateString(undefined, { month: 'short', day: 'numeric' }) + ' ' +
      pad(date.getHours()) + ':' + pad(date.getMinutes()) + ':' + pad(date.getSeconds());
  }

  function appendLogLine(box, line) {
    var atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    var priority = typeof line.priority === 'number' ? line.priority : 6;
    var tone = priority <= 3 ? 'is-error' : priority === 4 ? 'is-warning' : priority >= 7 ? 'is-debug' : '';
    box.appendChild(el('div', { class: 'log-line ' + tone }, [
      el('span', { class: 'log-time', text: formatLogTime(line.time), title: line.time ? String(line.time) : null }),
      el('span', { class: 'log-ident', text: line.identifier || '' }),
      el('span', { class: 'log-message', text: line.message === undefined || line.message === null ? '' : String(line.message) })
    ]));
    while (box.childNodes.length > LOG_MAX_LINES) box.removeChild(box.firstChild);
    if (atBottom) box.scrollTop = box.scrollHeight;
  }

  function closeLogs() {
    if (logs.source) logs.source.close();
    logs.source = null;
    logs.workspace = null;
  }

  // ---------------------------------------------------------------- start

  checkSession();
})();
