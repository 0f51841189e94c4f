/* The study page: offline, no libraries. Loads study.json, asks for a participant ID, orders
   and swaps the trials for that participant exactly as benchmark/study/order.py does, shows
   each pair for display_ms then hides it, and posts every answer to the server (POST /answer).
   Practice trials come first and say whether the answer was right. A reload continues where
   the participant stopped (GET /progress). */
"use strict";
(function () {
  var ID = /^[A-Za-z0-9_.@-]{1,64}$/;
  var GAP_MS = 600; // "sequential": between the two images, as the authors' AMT page (2 x isi 300)

  // --- the same randomisation as order.py ------------------------------------------------
  function fnv1a32(text) {
    var bytes = new TextEncoder().encode(text);
    var h = 0x811c9dc5;
    for (var i = 0; i < bytes.length; i++) {
      h ^= bytes[i];
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    return h >>> 0;
  }
  function mulberry32(seed) {
    var a = seed >>> 0;
    return function () {
      a = (a + 0x6d2b79f5) >>> 0;
      var t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }
  function shuffle(items, rng) {
    for (var i = items.length - 1; i > 0; i--) {
      var j = Math.floor(rng() * (i + 1));
      var tmp = items[i]; items[i] = items[j]; items[j] = tmp;
    }
    return items;
  }
  // trials: [[id, isPractice], ...] in the study's file order
  function plan(seed, participant, trials) {
    var rng = mulberry32(fnv1a32(String(seed) + ":" + participant));
    var practice = trials.filter(function (t) { return t[1]; }).map(function (t) { return t[0]; });
    var main = trials.filter(function (t) { return !t[1]; }).map(function (t) { return t[0]; });
    var order = shuffle(practice.slice(), rng).concat(shuffle(main.slice(), rng));
    var swapped = {};
    [practice, main].forEach(function (group) {
      var flags = shuffle(group.map(function (_, k) { return k % 2 === 1; }), rng);
      group.forEach(function (id, k) { swapped[id] = flags[k]; });
    });
    return { order: order, swapped: swapped };
  }

  // --- the page ----------------------------------------------------------------------------
  function $(id) { return document.getElementById(id); }
  var state = {
    study: null, byId: {}, participant: null, order: [], swapped: {}, queue: [], pos: 0,
    accepting: false, t0: 0, timers: [], breakShown: false, practiceInSession: false,
    answeredBefore: 0, pending: null, current: null
  };
  window.studyPage = { fnv1a32: fnv1a32, mulberry32: mulberry32, shuffle: shuffle, plan: plan,
                       state: state };

  function phase(name) {
    document.body.dataset.phase = name;
    ["start", "trial", "break", "done"].forEach(function (s) { $(s).hidden = s !== name; });
    $("loading").hidden = true;
  }
  function later(fn, ms) { state.timers.push(setTimeout(fn, ms)); }
  function clearTimers() { state.timers.forEach(clearTimeout); state.timers = []; }
  function flip(side) { return side === "left" ? "right" : "left"; }

  function instructions(study) {
    var n = study.trials.filter(function (t) { return t.practice; }).length;
    var shown = study.display_ms > 0
      ? "Each pair is shown for " + (study.display_ms / 1000) + " s and then hidden; "
      : "The images stay on the screen; ";
    var text = study.design === "real-vs-fake"
      ? "<p>Each trial shows two images. One is a real photograph; the other was made by a " +
        "computer program. Click the one you think is <b>real</b> (or press &larr; / &rarr;).</p>"
      : "<p>Each trial shows an input image and two images made from it by different computer " +
        "programs. Click the one that looks <b>more realistic and matches the input better</b> " +
        "(or press &larr; / &rarr;).</p>";
    text += "<p>" + shown + "take as long as you need to answer.</p>";
    if (n > 0) {
      text += "<p>The first " + n + " trials are practice: they tell you whether you were right." +
              "</p>";
    }
    return text;
  }

  function load() {
    fetch("study.json", { cache: "no-store" }).then(function (r) {
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      return r.json();
    }).then(function (study) {
      state.study = study;
      study.trials.forEach(function (t) { state.byId[t.id] = t; });
      document.documentElement.style.setProperty("--px", study.display_px + "px");
      document.title = study.study;
      $("title").textContent = "Image study";
      $("instructions").innerHTML = instructions(study);
      var params = new URLSearchParams(location.search);
      $("participant").value = params.get("participant") || params.get("PROLIFIC_PID") ||
                               params.get("workerId") || "";
      phase("start");
    }).catch(function (err) {
      $("loading").textContent = "Cannot load the study (" + err.message + "): open this page " +
        "through `python -m benchmark study serve STUDY`.";
    });
  }

  function start(ev) {
    if (ev) { ev.preventDefault(); }
    var pid = $("participant").value.trim();
    if (!ID.test(pid)) {
      $("start-error").textContent = "The ID must be 1 to 64 letters, digits or _ . @ -";
      return;
    }
    $("start-error").textContent = "";
    $("start-button").disabled = true;
    var study = state.study;
    var p = plan(study.seed, pid, study.trials.map(function (t) { return [t.id, t.practice]; }));
    state.participant = pid;
    state.order = p.order;
    state.swapped = p.swapped;
    fetch("progress?participant=" + encodeURIComponent(pid), { cache: "no-store" })
      .then(function (r) {
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.json();
      }).then(function (progress) {
        var done = {};
        progress.answered.forEach(function (id) { done[id] = true; });
        state.answeredBefore = progress.answered.length;
        state.queue = state.order.filter(function (id) { return !done[id]; });
        state.practiceInSession = state.queue.some(function (id) {
          return state.byId[id].practice;
        });
        var url = new URL(location.href);
        url.searchParams.set("participant", pid);
        history.replaceState(null, "", url.toString());
        next();
      }).catch(function (err) {
        $("start-button").disabled = false;
        $("start-error").textContent = "Cannot reach the study server (" + err.message +
          "); check the connection and press Start again.";
      });
  }

  function counts(trial) {
    var practice = state.order.filter(function (id) { return state.byId[id].practice; });
    var list = trial.practice ? practice : state.order.filter(function (id) {
      return !state.byId[id].practice;
    });
    return (trial.practice ? "Practice trial " : "Trial ") + (list.indexOf(trial.id) + 1) +
      " of " + list.length;
  }

  function next() {
    clearTimers();
    if (state.pos >= state.queue.length) { finish(); return; }
    var trial = state.byId[state.queue[state.pos]];
    if (!trial.practice && state.practiceInSession && !state.breakShown) {
      state.breakShown = true;
      phase("break");
      $("break-button").focus();
      return;
    }
    show(trial);
  }

  function loaded(img) {
    return new Promise(function (resolve) {
      if (img.complete && img.naturalWidth > 0) { resolve(); return; }
      img.onload = function () { resolve(); };
      img.onerror = function () { resolve(); };
    });
  }

  function show(trial) {
    phase("trial");
    state.current = trial;
    state.accepting = false;
    var study = state.study;
    var swapped = state.swapped[trial.id];
    var left = swapped ? trial.right : trial.left;
    var right = swapped ? trial.left : trial.right;
    var stage = $("trial");
    stage.dataset.trial = trial.id;
    stage.dataset.practice = trial.practice ? "1" : "0";
    stage.dataset.swapped = swapped ? "1" : "0";
    delete stage.dataset.shownAt;
    delete stage.dataset.hiddenAt;
    $("counter").textContent = counts(trial);
    $("question").textContent = study.question;
    $("feedback").textContent = "";
    $("feedback").className = "feedback";
    delete $("feedback").dataset.result;
    $("next").hidden = true;
    $("trial-error").textContent = "";
    $("retry").hidden = true;
    ["left", "right"].forEach(function (s) {
      $(s).disabled = true;
      $(s + "-label").textContent = "";
      $(s + "-img").parentNode.className = "frame";
      $(s + "-img").classList.add("gone");
    });
    $("left-img").src = left;
    $("right-img").src = right;
    var waits = [loaded($("left-img")), loaded($("right-img"))];
    if (trial.input) {
      $("input").src = trial.input;
      $("input-box").hidden = false;
      waits.push(loaded($("input")));
    } else {
      $("input-box").hidden = true;
      $("input").removeAttribute("src");
    }
    Promise.all(waits).then(function () {
      if (state.current !== trial) { return; }
      onset(trial);
    });
  }

  function hide(side) { $(side + "-img").classList.add("gone"); }
  function unhide(side) { $(side + "-img").classList.remove("gone"); }

  function accept() {
    state.accepting = true;
    state.t0 = performance.now();
    $("left").disabled = false;
    $("right").disabled = false;
  }

  function onset(trial) {
    var ms = state.study.display_ms;
    var stage = $("trial");
    var t = performance.now();
    stage.dataset.shownAt = String(t);
    if (state.study.presentation === "sequential" && ms > 0) {
      // as the authors' AMT page: the left image, a gap, the right image, then the question
      unhide("left");
      later(function () { hide("left"); }, ms);
      later(function () { unhide("right"); }, ms + GAP_MS);
      later(function () {
        hide("right");
        stage.dataset.hiddenAt = String(performance.now());
        accept();
      }, 2 * ms + GAP_MS);
      return;
    }
    unhide("left");
    unhide("right");
    accept();
    if (ms > 0) {
      later(function () {
        hide("left");
        hide("right");
        stage.dataset.hiddenAt = String(performance.now());
      }, ms);
    }
  }

  function answer(side) {
    if (!state.accepting) { return; }
    state.accepting = false;
    $("left").disabled = true;
    $("right").disabled = true;
    var trial = state.current;
    var body = {
      participant: state.participant,
      trial: trial.id,
      choice: side,
      rt_ms: Math.round(performance.now() - state.t0),
      swapped: state.swapped[trial.id]
    };
    state.pending = body;
    send(body);
  }

  function send(body) {
    $("trial-error").textContent = "";
    $("retry").hidden = true;
    fetch("answer", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (reply) {
        if (r.ok || (r.status === 400 && /already answered/.test(reply.error || ""))) {
          answered(body.choice);
        } else if (r.status === 400) {
          $("trial-error").textContent = "The server refused this answer: " + reply.error;
        } else {
          throw new Error(reply.error || "HTTP " + r.status);
        }
      });
    }).catch(function (err) {
      $("trial-error").textContent = "Your answer was not saved (" + err.message + ").";
      $("retry").hidden = false;
      $("retry").focus();
    });
  }

  function answered(choice) {
    var trial = state.current;
    state.pending = null;
    state.pos += 1;
    if (!trial.practice) { next(); return; }
    clearTimers();
    var right = state.swapped[trial.id] ? flip(trial.correct) : trial.correct;
    var ok = choice === right;
    var fb = $("feedback");
    fb.dataset.result = ok ? "correct" : "wrong";
    fb.className = "feedback " + (ok ? "correct" : "wrong");
    var real = state.study.design === "real-vs-fake";
    fb.textContent = ok
      ? "Correct" + (real ? ": that one was real." : ".")
      : "Wrong" + (real ? ": the other one was real." : ": the other one was the intact image.");
    $(right + "-label").textContent = real ? "real" : "intact";
    $(flip(right) + "-label").textContent = real ? "fake" : "broken";
    $(choice + "-img").parentNode.className = "frame " + (ok ? "right-answer" : "wrong-answer");
    unhide("left");
    unhide("right");
    $("next").hidden = false;
    $("next").focus();
  }

  function finish() {
    phase("done");
    var total = state.order.length;
    $("done-text").textContent = "All " + total + " trials are answered (participant " +
      state.participant + "). You can close this page.";
  }

  function key(ev) {
    if (document.body.dataset.phase !== "trial" || !state.accepting) { return; }
    var k = ev.key;
    if (k === "ArrowLeft" || k === "f" || k === "F") { ev.preventDefault(); answer("left"); }
    if (k === "ArrowRight" || k === "j" || k === "J") { ev.preventDefault(); answer("right"); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    $("start-form").addEventListener("submit", start);
    $("left").addEventListener("click", function () { answer("left"); });
    $("right").addEventListener("click", function () { answer("right"); });
    $("next").addEventListener("click", next);
    $("break-button").addEventListener("click", function () {
      var trial = state.byId[state.queue[state.pos]];
      show(trial);
    });
    $("retry").addEventListener("click", function () {
      if (state.pending) { send(state.pending); }
    });
    document.addEventListener("keydown", key);
    load();
  });
})();
