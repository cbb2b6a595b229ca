// chatgate browser client. Plain modern JavaScript (an ES module), no framework, no build step.
//
// Security rules kept throughout this file:
//   - user-provided text reaches the DOM only through textContent / createTextNode;
//   - no inline handlers and no style attributes: styles are set through the CSSOM
//     (element.style.x = ...) or classes, which the page CSP allows;
//   - the server HTML-escapes message content, so it is decoded here with a small
//     entity decoder (no HTML parser) and then inserted as text.
import { ChatgateClient } from '/lib/chatgate.js';

(() => {
  const NAME_MAX = 32;
  const CONTENT_MAX = 2000;
  const ROOM_NAME_MAX = 64;
  const ROOM_REFRESH_MS = 5000;
  const BACKOFF_BASE_MS = 500;
  const BACKOFF_MAX_MS = 15000;
  const MAX_RENDERED_MESSAGES = 500;
  const HISTORY_LIMIT = 50;
  const TOKEN_MARGIN_MS = 30000; // renew a connect token this long before it expires
  const SAFE_NAME = /^[A-Za-z0-9_-]{1,64}$/;
  const SAFE_COLOUR = /^(#[0-9a-fA-F]{3,8}|[a-zA-Z]{3,30}|(rgb|rgba|hsl|hsla)\([0-9.,%\s]{1,40}\))$/;
  const PREFS_KEY = 'chatgate.prefs';
  // Each tab keeps its own login (docs/http-api.md, "Sessions"): the login
  // session id lives in this tab's sessionStorage and goes out as
  // X-Chatgate-Session, so two tabs of one browser can be two users. It is
  // bound to an HttpOnly browser cookie, so the id alone is no login.
  const SESSION_KEY = 'chatgate.session';
  const SESSION_HEADER = 'X-Chatgate-Session';

  const $ = (id) => document.getElementById(id);

  const el = {
    topbar: $('topbar'), title: $('title'), status: $('status'), back: $('back-to-lobby'),
    toggleUsers: $('toggle-users'), usersCount: $('users-count'), meAvatar: $('me-avatar'),
    meName: $('me-name'), logout: $('logout'),
    loading: $('loading'),
    login: $('login'), loginForm: $('login-form'), name: $('name'), avatarOptions: $('avatar-options'),
    bubbleOptions: $('bubble-options'), previewAvatar: $('preview-avatar'), previewName: $('preview-name'),
    previewBubble: $('preview-bubble'), loginError: $('login-error'), loginSubmit: $('login-submit'),
    lobby: $('lobby'), roomList: $('room-list'), roomsEmpty: $('rooms-empty'), roomsUpdated: $('rooms-updated'),
    lobbyError: $('lobby-error'), createForm: $('create-room-form'), newRoomName: $('new-room-name'),
    createRoom: $('create-room'),
    room: $('room'), messages: $('messages'), jumpLatest: $('jump-latest'), composer: $('composer'),
    whisperTarget: $('whisper-target'), whisperName: $('whisper-name'), whisperClear: $('whisper-clear'),
    input: $('input'), send: $('send'), composerError: $('composer-error'), charCount: $('char-count'),
    sidebar: $('sidebar'), sidebarBackdrop: $('sidebar-backdrop'), users: $('users'), refreshUsers: $('refresh-users'),
    toast: $('toast'),
  };

  const state = {
    config: { avatars: [], bubbles: [], gateway_url: '' },
    me: null,            // {uid, name, avatar, bubble, csrf_token}
    sid: loadSessionId(), // this tab's login session id ('' when logged out)
    token: null,         // {token, expires_at, uid}: connect token from POST /api/token
    room: null,          // {id, name}
    screen: 'loading',
    users: new Map(),    // uid -> uname, from flush/join/close
    avatarsByUid: new Map(),
    whisper: null,       // {uid, name}
    sending: false,
    // WebSocket lifecycle (connect).
    client: null,        // the room's ChatgateClient
    connected: false,    // the client is bound to the room
    tokenStale: false,
    roomsTimer: 0,
    stick: true,         // the message list is scrolled to the bottom
  };

  // ---------------------------------------------------------------- helpers

  class ApiError extends Error {
    constructor(status, code, message, retryAfter) {
      super(message || code || ('HTTP ' + status));
      this.status = status;
      this.code = code || '';
      this.retryAfter = retryAfter;
    }
  }

  function sleep(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }

  function loadSessionId() {
    try { return sessionStorage.getItem(SESSION_KEY) || ''; } catch (err) { return ''; }
  }

  // setSessionId remembers this tab's login ('' forgets it).
  function setSessionId(sid) {
    state.sid = sid;
    try {
      if (sid) sessionStorage.setItem(SESSION_KEY, sid); else sessionStorage.removeItem(SESSION_KEY);
    } catch (err) { /* storage disabled: the login lasts until a reload */ }
  }

  // api sends a same-origin JSON request with this tab's login session id.
  // State-changing requests carry the CSRF token; a login asks for a new tab login.
  async function api(method, path, body, retried) {
    const headers = { Accept: 'application/json' };
    if (path === '/api/login') headers[SESSION_HEADER] = 'new';
    else if (state.sid) headers[SESSION_HEADER] = state.sid;
    const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
    if (method !== 'GET' && method !== 'HEAD') {
      headers['Content-Type'] = 'application/json';
      if (state.me && state.me.csrf_token) headers['X-CSRF-Token'] = state.me.csrf_token;
      init.body = JSON.stringify(body === undefined ? {} : body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (err) {
      throw new ApiError(0, 'network', 'Cannot reach the server. Check your connection.');
    }
    if (res.status === 204) return null;
    let data = null;
    const text = await res.text();
    if (text) {
      try { data = JSON.parse(text); } catch (err) { data = null; }
    }
    if (res.ok) return data;

    const code = data && typeof data.error === 'string' ? data.error : '';
    const message = data && typeof data.message === 'string' && data.message ? data.message : defaultMessage(res.status);
    const retryAfter = parseRetryAfter(res.headers.get('Retry-After'));
    // A stale CSRF token (e.g. after the session was renewed): fetch a fresh one once.
    if (res.status === 403 && /csrf/i.test(code) && !retried && path !== '/api/me') {
      try {
        await loadMe();
        return api(method, path, body, true);
      } catch (err) { /* fall through to the original error */ }
    }
    throw new ApiError(res.status, code, message, retryAfter);
  }

  function defaultMessage(status) {
    if (status === 401) return 'Please log in again.';
    if (status === 403) return 'Not allowed.';
    if (status === 404) return 'Not found.';
    if (status === 429) return 'Too many requests. Slow down a little.';
    if (status >= 500) return 'The server had a problem. Try again.';
    return 'Request failed (' + status + ').';
  }

  function parseRetryAfter(v) {
    if (!v) return 0;
    const n = Number(v);
    if (Number.isFinite(n)) return Math.max(0, n);
    const d = Date.parse(v);
    return Number.isFinite(d) ? Math.max(0, Math.ceil((d - Date.now()) / 1000)) : 0;
  }

  function errorText(err) {
    if (err instanceof ApiError) {
      if (err.status === 429 && err.retryAfter) {
        return err.message + ' (try again in ' + Math.ceil(err.retryAfter) + ' s)';
      }
      return err.message;
    }
    return 'Something went wrong.';
  }

  // isUnauthorized handles a 401 anywhere: the session is gone, so go back to login.
  function isUnauthorized(err) {
    if (err instanceof ApiError && err.status === 401) {
      sessionEnded('Your session ended. Please log in again.');
      return true;
    }
    return false;
  }

  // Counts user-perceived characters (grapheme clusters) when the browser can.
  const segmenter = typeof Intl !== 'undefined' && Intl.Segmenter ? new Intl.Segmenter(undefined, { granularity: 'grapheme' }) : null;
  function visibleLength(s) {
    if (segmenter) {
      let n = 0;
      for (const _ of segmenter.segment(s)) n++; // eslint-disable-line no-unused-vars
      return n;
    }
    return Array.from(s).length;
  }

  function validateNickname(raw) {
    const name = raw.trim();
    if (!name) return { error: 'Please enter a nickname.' };
    if (/\p{Cc}/u.test(name)) return { error: 'The nickname contains control characters.' };
    if (!/[^\s\p{Cf}\p{Z}]/u.test(name)) return { error: 'The nickname needs at least one visible character.' };
    if (visibleLength(name) > NAME_MAX) return { error: 'The nickname can have at most ' + NAME_MAX + ' characters.' };
    return { name };
  }

  // decodeEntities turns the server's HTML-escaped text back into plain text in a
  // single pass, without an HTML parser: "&lt;b&gt;" becomes "<b>", "&amp;lt;" becomes "&lt;".
  const NAMED_ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };
  function decodeEntities(s) {
    if (typeof s !== 'string') return '';
    if (s.indexOf('&') < 0) return s;
    return s.replace(/&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z]{2,8});/g, (m, body) => {
      if (body[0] === '#') {
        const cp = body[1] === 'x' || body[1] === 'X' ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
        if (!Number.isFinite(cp) || cp <= 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return '\ufffd';
        return String.fromCodePoint(cp);
      }
      const v = NAMED_ENTITIES[body.toLowerCase()];
      return v === undefined ? m : v;
    });
  }

  function avatarURL(name) {
    return SAFE_NAME.test(name || '') ? '/avatars/' + name + '.svg' : '';
  }

  function safeColour(c) {
    if (typeof c !== 'string') return '';
    if (state.config.bubbles.includes(c)) return c;
    return SAFE_COLOUR.test(c.trim()) ? c.trim() : '';
  }

  // makeAvatar returns an <img> for a known avatar, or a letter badge as a fallback.
  function makeAvatar(avatar, name, cls) {
    const url = avatarURL(avatar);
    const letter = () => {
      const span = document.createElement('span');
      span.className = 'avatar avatar-letter ' + (cls || '');
      span.textContent = (Array.from((name || '?').trim())[0] || '?').toUpperCase();
      span.setAttribute('aria-hidden', 'true');
      span.dataset.hue = String(hash(name || '') % 8);
      return span;
    };
    if (!url) return letter();
    const img = document.createElement('img');
    img.className = 'avatar ' + (cls || '');
    img.src = url;
    img.alt = '';
    img.decoding = 'async';
    img.addEventListener('error', () => { img.replaceWith(letter()); }, { once: true });
    return img;
  }

  function hash(s) {
    let h = 0;
    for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) | 0;
    return Math.abs(h);
  }

  function formatTime(ts) {
    const d = new Date(Number(ts) || Date.now());
    const now = new Date();
    const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    if (d.toDateString() === now.toDateString()) return time;
    return d.toLocaleDateString([], { month: 'short', day: 'numeric' }) + ' ' + time;
  }

  let toastTimer = 0;
  function toast(text, ms) {
    el.toast.textContent = text;
    el.toast.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { el.toast.hidden = true; }, ms || 4000);
  }

  function showError(node, text) {
    node.textContent = text || '';
    node.hidden = !text;
  }

  function loadPrefs() {
    try { return JSON.parse(localStorage.getItem(PREFS_KEY) || '{}') || {}; } catch (err) { return {}; }
  }

  function savePrefs(p) {
    try { localStorage.setItem(PREFS_KEY, JSON.stringify(p)); } catch (err) { /* private mode */ }
  }

  // ---------------------------------------------------------------- screens

  function show(screen) {
    state.screen = screen;
    el.loading.hidden = screen !== 'loading';
    el.login.hidden = screen !== 'login';
    el.lobby.hidden = screen !== 'lobby';
    el.room.hidden = screen !== 'room';
    el.topbar.hidden = screen === 'login' || screen === 'loading';
    el.back.hidden = screen !== 'room';
    el.status.hidden = screen !== 'room';
    el.toggleUsers.hidden = screen !== 'room';
    document.body.dataset.screen = screen;
    if (screen === 'room') {
      el.title.textContent = state.room ? state.room.name : '';
      document.title = (state.room ? state.room.name + ' · ' : '') + 'chatgate';
    } else {
      el.title.textContent = 'chatgate';
      document.title = 'chatgate';
    }
    closeSidebar();
    if (screen === 'lobby') startRoomsRefresh(); else stopRoomsRefresh();
  }

  function renderMe() {
    if (!state.me) return;
    el.meName.textContent = state.me.name;
    const url = avatarURL(state.me.avatar);
    if (url) { el.meAvatar.src = url; el.meAvatar.hidden = false; } else { el.meAvatar.hidden = true; }
  }

  // ---------------------------------------------------------------- login

  function buildPickers() {
    const prefs = loadPrefs();
    el.avatarOptions.replaceChildren();
    const avatars = state.config.avatars.filter((a) => SAFE_NAME.test(a));
    const avatar = avatars.includes(prefs.avatar) ? prefs.avatar : avatars[0];
    for (const a of avatars) {
      const label = document.createElement('label');
      label.className = 'avatar-option';
      label.dataset.avatar = a;
      label.title = a;
      const input = document.createElement('input');
      input.type = 'radio';
      input.name = 'avatar';
      input.value = a;
      input.checked = a === avatar;
      const img = makeAvatar(a, a, '');
      const caption = document.createElement('span');
      caption.className = 'avatar-caption';
      caption.textContent = a;
      label.append(input, img, caption);
      el.avatarOptions.append(label);
    }

    el.bubbleOptions.replaceChildren();
    const bubbles = state.config.bubbles.filter((b) => safeColour(b));
    const bubble = bubbles.includes(prefs.bubble) ? prefs.bubble : bubbles[0];
    for (const b of bubbles) {
      const label = document.createElement('label');
      label.className = 'bubble-option';
      label.dataset.bubble = b;
      label.title = b;
      const input = document.createElement('input');
      input.type = 'radio';
      input.name = 'bubble';
      input.value = b;
      input.checked = b === bubble;
      input.setAttribute('aria-label', 'Bubble colour ' + b);
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.style.backgroundColor = b;
      label.append(input, swatch);
      el.bubbleOptions.append(label);
    }
    if (prefs.name && !el.name.value) el.name.value = prefs.name;
    updatePreview();
  }

  function selectedValue(name) {
    const input = el.loginForm.querySelector('input[name="' + name + '"]:checked');
    return input ? input.value : '';
  }

  function updatePreview() {
    const avatar = selectedValue('avatar');
    const bubble = selectedValue('bubble');
    const url = avatarURL(avatar);
    if (url) el.previewAvatar.src = url;
    el.previewAvatar.hidden = !url;
    el.previewName.textContent = el.name.value.trim() || 'You';
    el.previewBubble.style.backgroundColor = safeColour(bubble) || '';
  }

  async function onLogin(ev) {
    ev.preventDefault();
    const v = validateNickname(el.name.value);
    if (v.error) {
      showError(el.loginError, v.error);
      el.name.setAttribute('aria-invalid', 'true');
      el.name.focus();
      return;
    }
    el.name.removeAttribute('aria-invalid');
    const avatar = selectedValue('avatar');
    const bubble = selectedValue('bubble');
    if (!avatar || !bubble) {
      showError(el.loginError, 'Please pick an avatar and a bubble colour.');
      return;
    }
    showError(el.loginError, '');
    el.loginSubmit.disabled = true;
    try {
      const me = await api('POST', '/api/login', { name: v.name, avatar, bubble });
      setSessionId(String((me && me.session_id) || ''));
      delete me.session_id;
      state.me = me;
      savePrefs({ name: v.name, avatar, bubble });
      renderMe();
      enterLobby();
    } catch (err) {
      showError(el.loginError, errorText(err));
    } finally {
      el.loginSubmit.disabled = false;
    }
  }

  function showLogin(message) {
    teardownRoom();
    state.me = null;
    setSessionId('');
    buildPickers();
    show('login');
    showError(el.loginError, message || '');
    el.name.focus();
  }

  function sessionEnded(message) {
    if (state.screen === 'login') return;
    showLogin(message);
  }

  async function onLogout() {
    el.logout.disabled = true;
    try {
      await api('POST', '/api/logout');
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) toast(errorText(err));
    } finally {
      el.logout.disabled = false;
    }
    showLogin('');
  }

  // ---------------------------------------------------------------- lobby

  function enterLobby() {
    teardownRoom();
    show('lobby');
    showError(el.lobbyError, '');
    refreshRooms();
  }

  function startRoomsRefresh() {
    if (state.roomsTimer) return;
    state.roomsTimer = setInterval(() => {
      if (state.screen === 'lobby' && document.visibilityState === 'visible') refreshRooms();
    }, ROOM_REFRESH_MS);
  }

  function stopRoomsRefresh() {
    clearInterval(state.roomsTimer);
    state.roomsTimer = 0;
  }

  let roomsInFlight = false;
  async function refreshRooms() {
    if (roomsInFlight) return;
    roomsInFlight = true;
    try {
      const rooms = await api('GET', '/api/rooms');
      if (state.screen !== 'lobby') return;
      renderRooms(Array.isArray(rooms) ? rooms : []);
      showError(el.lobbyError, '');
      el.roomsUpdated.textContent = 'updated ' + new Date().toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
    } catch (err) {
      if (!isUnauthorized(err)) showError(el.lobbyError, errorText(err));
    } finally {
      roomsInFlight = false;
    }
  }

  function renderRooms(rooms) {
    const focused = document.activeElement && document.activeElement.classList.contains('room')
      ? document.activeElement.dataset.roomId : null;
    const frag = document.createDocumentFragment();
    for (const r of rooms) {
      if (!r || r.id === undefined || r.id === null) continue;
      const li = document.createElement('li');
      const btn = document.createElement('button');
      btn.type = 'button';
      btn.className = 'room';
      btn.dataset.roomId = String(r.id);
      const icon = document.createElement('span');
      icon.className = 'room-icon';
      icon.setAttribute('aria-hidden', 'true');
      icon.textContent = '#';
      const name = document.createElement('span');
      name.className = 'room-name';
      name.textContent = r.name || String(r.id);
      const online = document.createElement('span');
      const n = Number(r.online) || 0;
      online.className = 'room-online' + (n > 0 ? ' live' : '');
      online.textContent = n + ' online';
      btn.append(icon, name, online);
      li.append(btn);
      frag.append(li);
    }
    el.roomList.replaceChildren(frag);
    el.roomsEmpty.hidden = rooms.length > 0;
    if (focused !== null) {
      const again = el.roomList.querySelector('.room[data-room-id="' + CSS.escape(focused) + '"]');
      if (again) again.focus();
    }
  }

  async function onCreateRoom(ev) {
    ev.preventDefault();
    const name = el.newRoomName.value.trim();
    if (!name) { showError(el.lobbyError, 'Please enter a room name.'); el.newRoomName.focus(); return; }
    if (visibleLength(name) > ROOM_NAME_MAX) { showError(el.lobbyError, 'The room name is too long.'); return; }
    el.createRoom.disabled = true;
    try {
      const room = await api('POST', '/api/rooms', { name });
      el.newRoomName.value = '';
      showError(el.lobbyError, '');
      await enterRoom(room.id);
    } catch (err) {
      if (!isUnauthorized(err)) showError(el.lobbyError, errorText(err));
    } finally {
      el.createRoom.disabled = false;
    }
  }

  // ---------------------------------------------------------------- room

  let entering = false;
  async function enterRoom(id) {
    if (entering) return;
    entering = true;
    try {
      const room = await api('POST', '/api/rooms/' + encodeURIComponent(id) + '/enter');
      teardownRoom();
      state.room = { id: String(room.id), name: room.name || String(room.id) };
      state.users.clear();
      state.whisper = null;
      el.messages.replaceChildren();
      renderUsers();
      renderWhisper();
      show('room');
      setStatus('reconnecting');
      showError(el.composerError, '');
      try {
        const history = await api('GET', '/api/rooms/' + encodeURIComponent(state.room.id) + '/history?limit=' + HISTORY_LIMIT);
        if (Array.isArray(history) && state.room && state.room.id === String(room.id)) {
          for (const m of history) addMessage(m, true);
        }
      } catch (err) {
        if (isUnauthorized(err)) return;
        addSystem('Could not load earlier messages.');
      }
      if (!state.room || state.room.id !== String(room.id)) return;
      scrollToBottom();
      connect();
      // On touch screens focusing would pop up the keyboard over the history.
      if (window.matchMedia('(pointer: fine)').matches) el.input.focus();
    } catch (err) {
      if (!isUnauthorized(err)) {
        if (state.screen === 'lobby') showError(el.lobbyError, errorText(err));
        else toast(errorText(err));
      }
    } finally {
      entering = false;
    }
  }

  // teardownRoom closes the socket (on purpose, so no reconnect follows) and forgets the room.
  function teardownRoom() {
    state.room = null;
    state.tokenStale = false;
    const client = state.client;
    state.client = null;
    state.connected = false;
    if (client) client.close(1000, 'leaving');
    setStatus('offline');
  }

  function setStatus(s) {
    const text = s === 'connected' ? 'connected' : s === 'reconnecting' ? 'reconnecting…' : 'offline';
    if (el.status.dataset.state !== s) el.status.dataset.state = s;
    if (el.status.textContent !== text) el.status.textContent = text;
    el.composer.classList.toggle('disconnected', s !== 'connected');
  }

  // ---- messages

  function nearBottom() {
    const m = el.messages;
    return m.scrollHeight - m.scrollTop - m.clientHeight < 80;
  }

  function scrollToBottom() {
    el.messages.scrollTop = el.messages.scrollHeight;
    el.jumpLatest.hidden = true;
    state.stick = true;
  }

  function appendItem(li, forceScroll) {
    const stick = forceScroll || nearBottom();
    el.messages.append(li);
    while (el.messages.childElementCount > MAX_RENDERED_MESSAGES) el.messages.firstElementChild.remove();
    if (stick) scrollToBottom(); else el.jumpLatest.hidden = false;
  }

  function addMessage(m, fromHistory) {
    if (!m || (m.type !== 'all' && m.type !== 'to')) return;
    const uid = m.uid === undefined || m.uid === null ? '' : String(m.uid);
    const mine = !!state.me && uid === String(state.me.uid);
    const isPrivate = m.type === 'to';
    if (uid && m.avatar) state.avatarsByUid.set(uid, m.avatar);

    const li = document.createElement('li');
    li.className = 'msg' + (mine ? ' mine' : '') + (isPrivate ? ' private' : '') + (fromHistory ? ' history' : '');
    li.dataset.uid = uid;

    const avatar = makeAvatar(m.avatar, m.uname, 'msg-avatar');
    const body = document.createElement('div');
    body.className = 'msg-body';

    const meta = document.createElement('div');
    meta.className = 'msg-meta';
    const name = document.createElement('span');
    name.className = 'msg-name';
    name.textContent = m.uname || 'someone';
    meta.append(name);
    if (isPrivate) {
      const tag = document.createElement('span');
      tag.className = 'msg-private-tag';
      const toMe = state.me && String(m.to_uid) === String(state.me.uid);
      tag.textContent = toMe ? '@me' : '@' + (m.to_uname || 'someone');
      tag.title = toMe ? 'Private message to you' : 'Private message to ' + (m.to_uname || 'someone');
      meta.append(tag);
    }
    const time = document.createElement('time');
    time.className = 'msg-time';
    const ts = Number(m.ts) || Date.now();
    time.dateTime = new Date(ts).toISOString();
    time.title = new Date(ts).toLocaleString();
    time.textContent = formatTime(ts);
    meta.append(time);

    const content = document.createElement('div');
    content.className = 'msg-content bubble';
    content.textContent = decodeEntities(m.content);
    const colour = safeColour(m.bubble);
    if (colour) content.style.backgroundColor = colour;

    body.append(meta, content);
    li.append(avatar, body);
    appendItem(li, mine && !fromHistory);
  }

  function addSystem(text) {
    const li = document.createElement('li');
    li.className = 'msg system';
    const span = document.createElement('span');
    span.className = 'msg-content';
    span.textContent = text;
    li.append(span);
    appendItem(li, false);
  }

  // ---- users

  function renderUsers() {
    const entries = [...state.users.entries()].sort((a, b) => {
      const am = state.me && a[0] === String(state.me.uid);
      const bm = state.me && b[0] === String(state.me.uid);
      if (am !== bm) return am ? -1 : 1;
      return String(a[1]).localeCompare(String(b[1]), undefined, { sensitivity: 'base' });
    });
    const frag = document.createDocumentFragment();
    for (const [uid, uname] of entries) {
      const li = document.createElement('li');
      const btn = document.createElement('button');
      btn.type = 'button';
      btn.className = 'user';
      btn.dataset.uid = uid;
      const self = state.me && uid === String(state.me.uid);
      if (self) { btn.classList.add('self'); btn.title = 'This is you'; } else { btn.title = 'Whisper to ' + uname; }
      if (state.whisper && state.whisper.uid === uid) btn.classList.add('active');
      const avatar = makeAvatar(state.avatarsByUid.get(uid) || (self ? state.me.avatar : ''), uname, 'avatar-sm');
      const name = document.createElement('span');
      name.className = 'user-name';
      name.textContent = uname;
      btn.append(avatar, name);
      if (self) {
        const you = document.createElement('span');
        you.className = 'user-you';
        you.textContent = 'you';
        btn.append(you);
      }
      li.append(btn);
      frag.append(li);
    }
    el.users.replaceChildren(frag);
    el.usersCount.textContent = String(entries.length);
    el.toggleUsers.setAttribute('aria-label', entries.length + ' people online');
  }

  function setWhisper(uid, name) {
    state.whisper = uid ? { uid, name } : null;
    renderWhisper();
    renderUsers();
  }

  function renderWhisper() {
    if (state.whisper) {
      el.whisperName.textContent = state.whisper.name;
      el.whisperTarget.hidden = false;
      el.input.placeholder = 'Whisper to ' + state.whisper.name + '…';
    } else {
      el.whisperName.textContent = '';
      el.whisperTarget.hidden = true;
      el.input.placeholder = 'Message…  (Enter to send, Shift+Enter for a new line)';
    }
    el.composer.classList.toggle('whispering', !!state.whisper);
  }

  function onUsersClick(ev) {
    const btn = ev.target.closest('.user');
    if (!btn || btn.classList.contains('self')) return;
    const uid = btn.dataset.uid;
    const name = state.users.get(uid) || '';
    if (state.whisper && state.whisper.uid === uid) setWhisper(null);
    else setWhisper(uid, name);
    closeSidebar();
    el.input.focus();
  }

  function openSidebar() {
    el.sidebar.classList.add('open');
    el.sidebarBackdrop.hidden = false;
    el.toggleUsers.setAttribute('aria-expanded', 'true');
  }

  function closeSidebar() {
    el.sidebar.classList.remove('open');
    el.sidebarBackdrop.hidden = true;
    el.toggleUsers.setAttribute('aria-expanded', 'false');
  }

  // ---- sending

  function contentLength(s) { return Array.from(s).length; }

  function updateComposer() {
    const t = el.input;
    t.style.height = 'auto';
    t.style.height = Math.min(t.scrollHeight, 160) + 'px';
    const n = contentLength(t.value.trim());
    if (n > CONTENT_MAX - 200) {
      el.charCount.hidden = false;
      el.charCount.textContent = n + ' / ' + CONTENT_MAX;
      el.charCount.classList.toggle('over', n > CONTENT_MAX);
    } else {
      el.charCount.hidden = true;
    }
  }

  async function onSend(ev) {
    if (ev) ev.preventDefault();
    if (state.sending || !state.room) return;
    const content = el.input.value.trim();
    if (!content) return;
    if (contentLength(content) > CONTENT_MAX) {
      showError(el.composerError, 'Messages can have at most ' + CONTENT_MAX + ' characters.');
      return;
    }
    const body = state.whisper
      ? { type: 'to', to_uid: state.whisper.uid, content }
      : { type: 'all', content };
    state.sending = true;
    el.send.disabled = true;
    try {
      await api('POST', '/api/say', body);
      el.input.value = '';
      showError(el.composerError, '');
      updateComposer();
    } catch (err) {
      if (!isUnauthorized(err)) showError(el.composerError, errorText(err));
    } finally {
      state.sending = false;
      el.send.disabled = false;
      if (state.screen === 'room') el.input.focus();
    }
  }

  function onInputKey(ev) {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) {
      ev.preventDefault();
      onSend();
    } else if (ev.key === 'Escape' && state.whisper) {
      setWhisper(null);
    }
  }

  // ---------------------------------------------------------------- WebSocket
  //
  // The connection is a ChatgateClient (clients/js, served as /lib/chatgate.js):
  // it reconnects with backoff (at once after 1012), asks for a fresh token
  // after 4001, answers heartbeats, and recovers what the room said while the
  // page was away or in a gap of the room's seq, delivering each frame once,
  // in order. When that is impossible it says so and the page reloads the
  // room's history.

  function gatewayURL() {
    let base = state.config.gateway_url;
    if (!base) base = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/';
    const u = new URL(base, location.href);
    if (u.protocol === 'http:') u.protocol = 'ws:';
    if (u.protocol === 'https:') u.protocol = 'wss:';
    return u.toString();
  }

  function connect() {
    if (!state.room || !state.me || state.client) return;
    const room = state.room.id;
    const client = new ChatgateClient({
      url: gatewayURL,
      token: async ({ fresh }) => {
        if (fresh) state.tokenStale = true;
        await ensureToken();
        return state.token.token;
      },
      onInit: ({ clientId }) => bind(client, clientId),
      backoffBaseMs: BACKOFF_BASE_MS,
      backoffMaxMs: BACKOFF_MAX_MS,
    });
    state.client = client;
    state.connected = false;
    const current = () => state.client === client;
    client.addEventListener('state', (ev) => {
      if (!current()) return;
      if (ev.detail.state !== 'open') {
        state.connected = false;
        setStatus(navigator.onLine === false ? 'offline' : 'reconnecting');
      }
    });
    client.addEventListener('message', (ev) => {
      const f = ev.detail.data;
      if (current() && f && typeof f === 'object' && typeof f.type === 'string') handleFrame(f);
    });
    client.addEventListener('recovery_failed', (ev) => {
      if (current() && ev.detail.group === room) reloadHistory(room);
    });
    client.addEventListener('error', (ev) => {
      if (current() && isUnauthorized(ev.detail.error)) client.close();
    });
    client.connect();
  }

  // bind joins the connection to the room (POST /api/bind); the client starts
  // recovering the room once it resolves.
  async function bind(client, clientId) {
    try {
      try {
        await api('POST', '/api/bind', { client_id: clientId });
      } catch (err) {
        // The server may have forgotten that we are in the room (a restart, a
        // new session): enter it again and bind once more.
        if (!(err instanceof ApiError) || ![400, 404, 409].includes(err.status) || !state.room) throw err;
        try {
          await api('POST', '/api/rooms/' + encodeURIComponent(state.room.id) + '/enter');
        } catch (enterErr) {
          if (state.client === client && enterErr instanceof ApiError && enterErr.status === 404) {
            toast('This room no longer exists.');
            enterLobby();
            return;
          }
          throw enterErr;
        }
        if (state.client !== client) return;
        await api('POST', '/api/bind', { client_id: clientId });
      }
      if (state.client !== client) return;
      state.connected = true;
      setStatus('connected');
    } catch (err) {
      if (state.client === client && !isUnauthorized(err)) toast('Could not join the room: ' + errorText(err));
      throw err; // the client closes this socket and tries again
    }
  }

  // reloadHistory shows the room's latest messages again: frames were missed
  // and cannot be recovered (the room's log was trimmed or lost).
  async function reloadHistory(room) {
    try {
      const history = await api('GET', '/api/rooms/' + encodeURIComponent(room) + '/history?limit=' + HISTORY_LIMIT);
      if (!state.room || state.room.id !== room || !Array.isArray(history)) return;
      el.messages.replaceChildren();
      for (const m of history) addMessage(m, true);
      addSystem('Some messages could not be recovered: showing the latest.');
      scrollToBottom();
    } catch (err) {
      if (!isUnauthorized(err)) addSystem('Some messages may be missing.');
    }
  }

  function handleFrame(f) {
    switch (f.type) {
      case 'all':
      case 'to':
        addMessage(f, false);
        break;
      case 'join': {
        const uid = String(f.uid);
        if (f.uname) state.users.set(uid, String(f.uname));
        renderUsers();
        addSystem(state.me && uid === String(state.me.uid) ? 'You joined' : (f.uname || 'Someone') + ' joined');
        break;
      }
      case 'close': {
        const uid = String(f.uid);
        state.users.delete(uid);
        renderUsers();
        addSystem((f.uname || 'Someone') + ' left');
        break;
      }
      case 'flush': {
        state.users.clear();
        const list = f.users_list && typeof f.users_list === 'object' ? f.users_list : {};
        for (const [uid, uname] of Object.entries(list)) state.users.set(String(uid), String(uname));
        if (state.whisper && state.users.has(state.whisper.uid)) state.whisper.name = state.users.get(state.whisper.uid);
        renderWhisper();
        renderUsers();
        break;
      }
      case 'room_deleted':
        // An operator deleted the room: the server has taken this connection
        // out of it, so go back to the room list (which no longer shows it).
        if (state.room && String(f.room_id) === state.room.id) {
          toast('This room was deleted.');
          enterLobby();
        }
        break;
      default:
        break; // unknown frames are ignored for forward compatibility
    }
  }

  // ensureToken makes state.token a connect token of the logged-in user that
  // is not known to be stale and lives a while longer; else it asks for one.
  async function ensureToken() {
    const t = state.token;
    if (t && !state.tokenStale && t.uid === state.me.uid && t.token &&
        t.expires_at * 1000 - Date.now() > TOKEN_MARGIN_MS) return;
    const uid = state.me.uid;
    const res = await api('POST', '/api/token');
    state.token = { token: String((res && res.token) || ''), expires_at: Number(res && res.expires_at) || 0, uid };
    state.tokenStale = false;
  }

  function onOnline() {
    if (state.room && state.client && !state.connected) {
      setStatus('reconnecting');
      state.client.reconnectNow();
    }
  }

  function onOffline() {
    if (state.room && !state.connected) setStatus('offline');
  }

  function onVisible() {
    if (document.visibilityState !== 'visible') return;
    if (state.screen === 'lobby') refreshRooms();
    if (state.room && state.client && !state.connected) state.client.reconnectNow();
  }

  // ---------------------------------------------------------------- boot

  async function loadMe() {
    const me = await api('GET', '/api/me');
    const roomId = me.room_id;
    delete me.room_id;
    state.me = Object.assign(state.me || {}, me);
    renderMe();
    return roomId;
  }

  function wire() {
    el.loginForm.addEventListener('submit', onLogin);
    el.loginForm.addEventListener('change', updatePreview);
    el.name.addEventListener('input', () => { updatePreview(); if (!el.loginError.hidden) showError(el.loginError, ''); });
    el.createForm.addEventListener('submit', onCreateRoom);
    el.roomList.addEventListener('click', (ev) => {
      const btn = ev.target.closest('.room');
      if (btn) enterRoom(btn.dataset.roomId);
    });
    el.logout.addEventListener('click', onLogout);
    el.back.addEventListener('click', enterLobby);
    el.composer.addEventListener('submit', onSend);
    el.input.addEventListener('keydown', onInputKey);
    el.input.addEventListener('input', updateComposer);
    el.users.addEventListener('click', onUsersClick);
    el.whisperClear.addEventListener('click', () => { setWhisper(null); el.input.focus(); });
    el.toggleUsers.addEventListener('click', () => {
      if (el.sidebar.classList.contains('open')) closeSidebar(); else openSidebar();
    });
    el.sidebarBackdrop.addEventListener('click', closeSidebar);
    el.refreshUsers.addEventListener('click', async () => {
      try { await api('POST', '/api/flush'); } catch (err) { if (!isUnauthorized(err)) toast(errorText(err)); }
    });
    el.messages.addEventListener('scroll', () => {
      state.stick = nearBottom();
      if (state.stick) el.jumpLatest.hidden = true;
    }, { passive: true });
    // Keep the latest message in view when the list changes size (rotation,
    // on-screen keyboard, composer growing), if it was in view before.
    if (typeof ResizeObserver === 'function') {
      new ResizeObserver(() => { if (state.stick && state.screen === 'room') scrollToBottom(); }).observe(el.messages);
    }
    el.jumpLatest.addEventListener('click', scrollToBottom);
    document.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') closeSidebar(); });
    document.addEventListener('visibilitychange', onVisible);
    window.addEventListener('online', onOnline);
    window.addEventListener('offline', onOffline);
  }

  async function boot() {
    wire();
    // The config is needed by every screen; retry quietly while the server starts.
    for (let i = 0; ; i++) {
      try {
        const cfg = await api('GET', '/api/config');
        state.config = {
          avatars: Array.isArray(cfg && cfg.avatars) ? cfg.avatars.map(String) : [],
          bubbles: Array.isArray(cfg && cfg.bubbles) ? cfg.bubbles.map(String) : [],
          gateway_url: cfg && typeof cfg.gateway_url === 'string' ? cfg.gateway_url : '',
        };
        break;
      } catch (err) {
        el.loading.querySelector('p').textContent = 'Connecting to the server…';
        await sleep(Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** i));
      }
    }
    // A new tab has no login of its own: it starts at the login form.
    if (!state.sid) {
      showLogin('');
      return;
    }
    let roomId = null;
    try {
      roomId = await loadMe();
    } catch (err) {
      showLogin(err instanceof ApiError && err.status === 401 ? '' : errorText(err));
      return;
    }
    if (roomId !== null && roomId !== undefined && roomId !== '') {
      show('lobby');
      await enterRoom(roomId);
      if (state.screen !== 'room') enterLobby();
    } else {
      enterLobby();
    }
  }

  boot();
})();
