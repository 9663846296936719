// The watch page's player: hls.js (window.Hls, loaded by its own <script>) where Media Source
// Extensions exist, native HLS elsewhere (Safari on iOS); custom accessible controls; engagement
// beacons per the issue 7 protocol (POST {beacon} as text/plain, <= 20 events and <= 4096 bytes;
// each event numbered `seq` 0, 1, 2 ... in this page's session, so the server counts it once).
//
// Test hooks, on <html>: data-tc-state (loading|ready|playing|paused|buffering|ended),
// data-tc-quality (the chosen quality: auto|360p|...), data-tc-level (the level hls.js plays).

const doc = document;
const root = doc.documentElement;
const $ = (id) => doc.getElementById(id);

const island = $('tc-page');
const video = $('tc-video');
if (island && video) start(JSON.parse(island.textContent), video);

function start(data, video) {
  const player = $('tc-player');
  const playBtn = $('tc-play');
  const seek = $('tc-seek');
  const timeLabel = $('tc-time');
  const muteBtn = $('tc-mute');
  const volume = $('tc-volume');
  const qualitySel = $('tc-quality');
  const speedSel = $('tc-speed');
  const fsBtn = $('tc-fullscreen');
  const cta = $('tc-cta');
  const errorBox = $('tc-error');

  const D = data.video.duration; // the duration the server knows; positions never exceed it
  const HEARTBEAT_MS = 5000;
  const MAX_EVENTS = 20;
  const MAX_BYTES = 4096;
  const MAX_RANGES = 20; // per heartbeat: ~20 bytes each, far below MAX_BYTES
  const JUMP = 3; // seconds between two timeupdates beyond which playback is not continuous

  let hls = null;
  let levelLabels = []; // hls level index -> "720p"
  let quality = 'auto';
  let needPlay = true; // the next `playing` is a play (first, or after a pause/end)
  let timer = 0;

  const setState = (s) => {
    root.dataset.tcState = s;
  };
  const r3 = (x) => Math.round(x * 1000) / 1000;
  const clampT = (x) => Math.min(Math.max(x || 0, 0), D);
  const position = () => r3(clampT(video.currentTime));
  root.dataset.tcQuality = quality;

  // ---------------------------------------------------------------- beacons
  const queue = [];
  const encoder = new TextEncoder();
  const bodyOf = (events) => JSON.stringify({ session: data.session, events });
  let seq = 0; // the next event's number: the server drops a (session, seq) it has already seen

  function emit(type, fields) {
    queue.push({ type, seq: seq++, t: Date.now(), ...fields });
  }

  function post(events) {
    const body = bodyOf(events);
    let sent = false;
    try {
      sent = navigator.sendBeacon(data.beacon, body);
    } catch (_) {
      /* no sendBeacon: fall back to fetch */
    }
    if (!sent && window.fetch) {
      fetch(data.beacon, {
        method: 'POST',
        body,
        keepalive: true,
        headers: { 'Content-Type': 'text/plain;charset=UTF-8' },
      }).catch(() => {});
    }
  }

  function flush() {
    let batch = [];
    for (const event of queue.splice(0)) {
      const next = batch.concat([event]);
      if (batch.length && (next.length > MAX_EVENTS || encoder.encode(bodyOf(next)).length > MAX_BYTES)) {
        post(batch);
        batch = [event];
      } else {
        batch = next;
      }
    }
    if (batch.length) post(batch);
  }

  // ---------------------------------------------------------------- watched ranges
  let open = null; // [start, last] being watched now
  let pending = []; // finished ranges not yet reported
  let covered = []; // union of everything watched, for the quartiles
  let watched = 0; // cumulative seconds watched (finished ranges)
  let resumeFrom = null; // where the range a pause closed ended (the media may report a bit later)
  let tick = 0; // performance.now() when the open range last matched the real position
  const mark = () => {
    tick = performance.now();
  };
  const quartiles = new Set();

  function union(list) {
    const out = [];
    for (const [a, b] of list.slice().sort((x, y) => x[0] - y[0])) {
      const last = out[out.length - 1];
      if (last && a <= last[1]) last[1] = Math.max(last[1], b);
      else out.push([a, b]);
    }
    return out;
  }

  function commit(a, b) {
    if (b - a < 0.001) return;
    pending.push([r3(a), r3(b)]);
    covered = union(covered.concat([[a, b]]));
    watched += b - a;
  }

  function closeRange() {
    if (open) commit(open[0], open[1]);
    open = null;
    // Many seeks make many ranges: report them before one heartbeat could outgrow a request.
    if (pending.length >= MAX_RANGES) heartbeat();
  }

  // Ranges since the last report; the open range continues from where it was cut.
  function takeRanges() {
    if (open) {
      const [a, b] = open;
      open = [b, b];
      commit(a, b);
    }
    const ranges = pending.filter(([a, b]) => b > a);
    pending = [];
    return ranges;
  }

  const watchedNow = () => r3(watched + (open ? open[1] - open[0] : 0));

  // Extends the open range to the current position when playback got there continuously.
  function extend() {
    const t = clampT(video.currentTime);
    if (open && t >= open[1] && t - open[1] <= JUMP) open[1] = t;
    return t;
  }

  function track() {
    if (video.paused || video.seeking) return;
    const t = clampT(video.currentTime);
    if (!open) open = [t, t];
    else if (extend() !== open[1]) {
      closeRange();
      open = [t, t];
    }
    mark();
    checkQuartiles();
  }

  function checkQuartiles() {
    const seen = union(open ? covered.concat([open]) : covered).reduce((s, [a, b]) => s + b - a, 0);
    for (const q of [25, 50, 75]) {
      if (!quartiles.has(q) && seen >= (D * q) / 100 - 0.05) {
        quartiles.add(q);
        emit('quartile', { quartile: q, position: position(), watched: watchedNow() });
      }
    }
  }

  function heartbeat() {
    const ranges = takeRanges();
    if (!ranges.length) return;
    emit('heartbeat', {
      position: position(),
      ranges,
      watched: r3(watched),
      quality,
      speed: video.playbackRate,
    });
  }

  const stopTimer = () => {
    clearInterval(timer);
    timer = 0;
  };

  // ---------------------------------------------------------------- playback
  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
  }

  function fillQuality(labels) {
    qualitySel.textContent = '';
    for (const label of ['auto', ...labels]) {
      const option = new Option(label === 'auto' ? 'Auto' : label, label);
      qualitySel.append(option);
    }
    qualitySel.value = quality;
  }

  const Hls = window.Hls;
  if (Hls && Hls.isSupported()) {
    hls = new Hls({ capLevelToPlayerSize: true, startLevel: -1 });
    let networkRetries = 0;
    let mediaRecovered = false;
    hls.on(Hls.Events.MANIFEST_PARSED, () => {
      levelLabels = hls.levels.map((l) => `${Math.min(l.width || l.height, l.height)}p`);
      const order = levelLabels
        .map((label, i) => [hls.levels[i].height, label])
        .sort((a, b) => b[0] - a[0])
        .map(([, label]) => label);
      fillQuality([...new Set(order)]);
    });
    hls.on(Hls.Events.LEVEL_SWITCHED, (_, d) => {
      root.dataset.tcLevel = levelLabels[d.level] || '';
    });
    hls.on(Hls.Events.ERROR, (_, d) => {
      if (!d.fatal) return;
      if (d.type === Hls.ErrorTypes.MEDIA_ERROR && !mediaRecovered) {
        mediaRecovered = true;
        hls.recoverMediaError();
      } else if (
        d.type === Hls.ErrorTypes.NETWORK_ERROR &&
        !/^manifest/.test(d.details) && // hls.js has retried the playlist already
        networkRetries++ < 2
      ) {
        hls.startLoad();
      } else {
        showError('The video could not be loaded. Please reload the page.');
      }
    });
    hls.loadSource(data.video.src);
    hls.attachMedia(video);
  } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
    fillQuality([]); // the browser picks the rendition itself
    qualitySel.disabled = true;
    video.src = data.video.src;
  } else {
    showError('This browser cannot play this video.');
  }

  function choose(label) {
    quality = label;
    root.dataset.tcQuality = label;
    if (hls) {
      if (label === 'auto') {
        hls.nextLevel = -1; // back to ABR without flushing what is buffered
      } else {
        // The best level with that label; currentLevel flushes and reloads at the same position.
        let best = -1;
        levelLabels.forEach((l, i) => {
          if (l === label && (best < 0 || hls.levels[i].bitrate > hls.levels[best].bitrate)) best = i;
        });
        if (best >= 0) hls.currentLevel = best;
      }
    }
    emit('quality_change', { quality: label, position: position() });
    flush();
  }

  function toggle() {
    if (video.paused || video.ended) {
      const p = video.play();
      if (p) p.catch(() => {});
    } else video.pause();
  }

  function skip(seconds) {
    const end = Number.isFinite(video.duration) ? video.duration : D;
    video.currentTime = Math.min(Math.max(video.currentTime + seconds, 0), end);
  }

  const fullscreenElement = () => doc.fullscreenElement || doc.webkitFullscreenElement;
  function fullscreen() {
    if (fullscreenElement()) {
      (doc.exitFullscreen || doc.webkitExitFullscreen).call(doc);
    } else if (player.requestFullscreen) {
      player.requestFullscreen().catch(() => {});
    } else if (player.webkitRequestFullscreen) {
      player.webkitRequestFullscreen();
    } else if (video.webkitEnterFullscreen) {
      video.webkitEnterFullscreen(); // iPhone: only the video element can go full screen
    }
  }

  const fmt = (s) => {
    const total = Math.floor(s || 0);
    return `${Math.floor(total / 60)}:${String(total % 60).padStart(2, '0')}`;
  };
  const duration = () => (Number.isFinite(video.duration) && video.duration > 0 ? video.duration : D);
  let scrubbing = false;

  function syncTime() {
    const t = video.currentTime || 0;
    if (!scrubbing) seek.value = t;
    seek.max = duration();
    seek.setAttribute('aria-valuetext', `${fmt(t)} of ${fmt(duration())}`);
    timeLabel.textContent = `${fmt(t)} / ${fmt(duration())}`;
  }

  function syncPlaying() {
    const playing = !video.paused && !video.ended;
    player.classList.toggle('is-playing', playing);
    playBtn.setAttribute('aria-label', playing ? 'Pause' : 'Play');
  }

  function syncVolume() {
    const muted = video.muted || video.volume === 0;
    player.classList.toggle('is-muted', muted);
    muteBtn.setAttribute('aria-label', muted ? 'Unmute' : 'Mute');
    volume.value = muted ? 0 : video.volume;
  }

  // Every handler ends with a flush, so the events of one moment travel in one request.
  const on = (target, type, fn) =>
    target.addEventListener(type, (e) => {
      fn(e);
      flush();
    });

  on(video, 'loadedmetadata', () => {
    if (root.dataset.tcState === 'loading') setState('ready');
    syncTime();
  });
  on(video, 'play', syncPlaying);
  on(video, 'playing', () => {
    setState('playing');
    syncPlaying();
    if (needPlay) {
      needPlay = false;
      emit('play', { position: position() });
    }
    if (!open && !video.seeking) {
      const t = clampT(video.currentTime);
      open = resumeFrom !== null && t >= resumeFrom && t - resumeFrom < 0.5 ? [resumeFrom, t] : [t, t];
    }
    resumeFrom = null;
    if (open && !video.seeking) extend();
    mark();
    if (!timer)
      timer = setInterval(() => {
        heartbeat();
        flush();
      }, HEARTBEAT_MS);
  });
  on(video, 'timeupdate', () => {
    track();
    syncTime();
    if (root.dataset.tcState === 'buffering' && !video.paused && video.readyState >= 3) setState('playing');
  });
  on(video, 'seeking', () => {
    // currentTime already is the seek's target: what played since the last timeupdate (at most
    // 250 ms apart while playing) is counted from the wall clock, capped at 300 ms.
    if (open && !video.paused && root.dataset.tcState === 'playing') {
      const played = (Math.min(performance.now() - tick, 300) / 1000) * video.playbackRate;
      open[1] = Math.min(open[1] + played, D);
    }
    closeRange(); // the range ends where playback was, not where the seek goes
    resumeFrom = null;
    syncTime();
  });
  on(video, 'seeked', () => {
    if (!video.paused) {
      const t = clampT(video.currentTime);
      open = [t, t]; // playback goes on from here
      mark();
    }
  });
  on(video, 'pause', () => {
    syncPlaying();
    if (video.ended) return; // `ended` reports this moment
    extend();
    resumeFrom = open ? open[1] : null;
    closeRange();
    stopTimer();
    heartbeat();
    emit('pause', { position: position() });
    needPlay = true;
    setState('paused');
  });
  on(video, 'ended', () => {
    if (open) open[1] = Math.max(open[1], clampT(video.currentTime));
    checkQuartiles();
    closeRange();
    stopTimer();
    emit('ended', { position: position(), ranges: takeRanges(), watched: r3(watched) });
    if (!quartiles.has(100)) {
      quartiles.add(100);
      emit('quartile', { quartile: 100, position: position(), watched: r3(watched) });
    }
    needPlay = true;
    syncPlaying();
    setState('ended');
  });
  const buffering = () => {
    if (!video.paused && video.readyState < 3) setState('buffering');
  };
  on(video, 'waiting', buffering);
  on(video, 'stalled', buffering);
  on(video, 'volumechange', syncVolume);
  on(video, 'ratechange', () => {
    speedSel.value = String(video.playbackRate);
  });
  on(video, 'error', () => {
    if (!hls) showError('The video could not be loaded. Please reload the page.');
  });
  on(video, 'click', toggle);
  on(video, 'dblclick', fullscreen);

  on(playBtn, 'click', toggle);
  on($('tc-bigplay'), 'click', toggle);
  on(seek, 'pointerdown', () => {
    scrubbing = true;
  });
  on(seek, 'change', () => {
    scrubbing = false;
  });
  on(seek, 'input', () => {
    video.currentTime = Number(seek.value);
    syncTime();
  });
  on(muteBtn, 'click', () => {
    if (video.muted || video.volume === 0) {
      video.muted = false;
      if (video.volume === 0) video.volume = 1;
    } else video.muted = true;
  });
  on(volume, 'input', () => {
    video.volume = Number(volume.value);
    video.muted = video.volume === 0;
  });
  on(qualitySel, 'change', () => choose(qualitySel.value));
  on(speedSel, 'change', () => {
    video.playbackRate = Number(speedSel.value);
  });
  on(fsBtn, 'click', fullscreen);
  const fsChange = () => {
    fsBtn.setAttribute('aria-label', fullscreenElement() ? 'Exit full screen' : 'Full screen');
    player.classList.toggle('is-fullscreen', !!fullscreenElement());
  };
  doc.addEventListener('fullscreenchange', fsChange);
  doc.addEventListener('webkitfullscreenchange', fsChange);

  if (cta) {
    const click = () => emit('cta_click', {});
    on(cta, 'click', click); // sendBeacon survives the navigation to the new tab
    on(cta, 'auxclick', (e) => e.button === 1 && click());
  }

  on(doc, 'keydown', (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || e.defaultPrevented) return;
    const tag = e.target.tagName;
    const field = tag === 'INPUT' || tag === 'SELECT' || tag === 'TEXTAREA';
    const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
    // Space activates the focused button/link/select itself; arrows move sliders and selects.
    if (key === ' ' && (field || tag === 'BUTTON' || tag === 'A')) return;
    if ((key === 'ArrowLeft' || key === 'ArrowRight') && field) return;
    if (tag === 'SELECT' || tag === 'TEXTAREA') return;
    if (key === ' ' || key === 'k') toggle();
    else if (key === 'ArrowLeft') skip(-5);
    else if (key === 'ArrowRight') skip(5);
    else if (key === 'm') video.muted = !video.muted;
    else if (key === 'f') fullscreen();
    else return;
    e.preventDefault();
  });

  // Report what was watched when the page goes away (tab switch, close, navigation).
  const leave = () => {
    heartbeat();
    flush();
  };
  window.addEventListener('pagehide', leave);
  doc.addEventListener('visibilitychange', () => {
    if (doc.visibilityState === 'hidden') leave();
  });

  syncTime();
  syncVolume();
  emit('page_view', {});
  flush();
}
