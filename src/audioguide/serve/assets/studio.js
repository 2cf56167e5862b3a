// The studio's page: plain JS, no library. Every text from the routine or the server is set as
// text (textContent, value), never as markup.
"use strict";

const token = new URLSearchParams(location.search).get("token") || "";
const $ = (id) => document.getElementById(id);
const state = { file: "", version: "", saved: "", id: "", plan: null, hints: null, timer: 0 };

async function api(path, body) {
  const init = { headers: { "X-Studio-Token": token } };
  if (body !== undefined) {
    init.method = "POST";
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const data = await response.json().catch(() => ({ error: response.statusText }));
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function el(tag, props, text) {
  const node = Object.assign(document.createElement(tag), props || {});
  if (text !== undefined) node.textContent = text;
  return node;
}

function settings() {
  const vars = {};
  for (const input of $("vars").querySelectorAll("input")) vars[input.name] = input.value;
  const voice = document.querySelector("input[name=voice]:checked");
  return {
    voice: voice ? voice.value : "",
    rate: $("rate-set").checked ? $("rate").value : "",
    length: $("length-set").checked ? `${$("length").value}m` : "",
    vars,
  };
}

function status(text) { $("status").textContent = text; }

// --- the editor -------------------------------------------------------------------------------

function lineOf(pos) { return $("text").value.slice(0, pos).split("\n").length; }

function drawGutter() {
  const lines = $("text").value.split("\n").length;
  const bad = new Set(((state.checked && state.checked.problems) || []).map((p) => p.line));
  const here = lineOf($("text").selectionStart);
  const gutter = $("gutter");
  gutter.replaceChildren();
  for (let n = 1; n <= lines; n++) {
    const cls = [bad.has(n) ? "bad" : "", n === here ? "here" : ""].join(" ").trim();
    gutter.append(el("span", { className: cls, id: `line-${n}` }, String(n)));
  }
  gutter.scrollTop = $("text").scrollTop;
}

function goToLine(n) {
  const text = $("text");
  const lines = text.value.split("\n");
  const pos = lines.slice(0, n - 1).reduce((sum, l) => sum + l.length + 1, 0);
  text.focus();
  text.setSelectionRange(pos, pos);
  text.scrollTop = Math.max(0, (n - 5) * 18);
  caretMoved();
}

function hint() {
  const text = $("text");
  const line = text.value.split("\n")[lineOf(text.selectionStart) - 1] || "";
  const match = line.match(/^\s*(?:-\s*)?([A-Za-z][\w-]*)\s*:/);
  const out = $("hint");
  out.replaceChildren();
  if (!match || !state.hints) return;
  const key = match[1];
  const kinds = state.hints.kinds;
  if (kinds[key]) {
    out.append(el("b", {}, `${key}: `), `${kinds[key].doc}. Keys: `);
    out.append(Object.entries(kinds[key].keys).map(([k, d]) => `${k} (${d})`).join(", "));
    return;
  }
  for (const [group, keys] of Object.entries(state.hints)) {
    const table = group === "kinds" ? Object.fromEntries(Object.values(keys).flatMap(
      (k) => Object.entries(k.keys))) : keys;
    if (table[key]) {
      out.append(el("b", {}, `${key}: `), table[key]);
      return;
    }
  }
}

function caretMoved() {
  drawGutter();
  hint();
  markStep();
}

function edited() {
  drawGutter();
  status(state.saved === $("text").value ? "" : "edited");
  clearTimeout(state.timer);
  state.timer = setTimeout(check, 250);
}

// --- the plan ---------------------------------------------------------------------------------

async function check() {
  const body = { file: state.file, text: $("text").value, settings: settings() };
  const version = state.version;
  showCommand();
  let checked;
  try {
    checked = await api("/api/check", body);
  } catch (e) {
    showProblems([{ line: 0, message: e.message }], []);
    return;
  }
  if (body.text !== $("text").value) return; // typed on meanwhile: the next check shows it
  state.checked = checked;
  state.id = checked.id;
  if (checked.on_disk !== version && state.version === version) { // not a save meanwhile
    status(`${state.file} changed on disk since it was opened: Save will not overwrite it`);
  }
  showProblems(checked.problems, checked.warnings);
  drawGutter();
  // The last good plan stays in view, greyed, while the text has a problem.
  $("timeline").classList.toggle("stale", !checked.plan);
  if (checked.plan) {
    state.plan = checked.plan;
    if (checked.plan.language !== state.language) voicesFor(checked.plan.language);
    drawTimeline(checked.plan);
    const sure = checked.estimated ? "~" : "";
    $("length-now").textContent = `${sure}${checked.plan.length}`;
    $("fitted").textContent = $("length-set").checked
      ? `Fitted: ${sure}${checked.plan.length} for ${$("length").value}:00 asked` : "";
  }
  // Speech not yet spoken was timed by its words; it is being spoken: ask again for the exact plan.
  if (checked.estimated) state.timer = setTimeout(check, 700);
  else document.body.dataset.checked = checked.id;
}

function showProblems(problems, warnings) {
  const list = $("problems");
  list.replaceChildren();
  for (const p of problems) {
    const item = el("li", { className: "problem" }, p.message);
    item.dataset.line = p.line;
    if (p.line) item.addEventListener("click", () => goToLine(p.line));
    list.append(item);
  }
  for (const w of warnings) list.append(el("li", { className: "warning" }, `Warning: ${w}`));
}

const LANES = [
  ["chapters", (c) => null],
  ["speech", (c) => c.kind === "speech"],
  ["timed", (c) => ["hold", "rest", "work", "silence"].includes(c.kind)],
  ["breath", (c) => c.kind === "breath"],
  ["sound", (c) => c.kind === "sound"],
];

function drawTimeline(plan) {
  const total = plan.total_samples;
  const pct = (s) => `${(100 * s) / total}%`;
  const box = $("timeline");
  box.replaceChildren();
  for (const [name, test] of LANES) {
    const lane = el("div", { className: "lane" });
    lane.dataset.name = name;
    const track = el("div", { className: "track" });
    lane.append(track);
    box.append(lane);
    if (name === "chapters") {
      plan.chapters.forEach((c, i) => {
        const [start, end] = plan.chapter_samples[i];
        const block = el("div", { className: "block chapter", title: `${c.title}: play` },
          `\u25B6 ${c.title}`);
        Object.assign(block.style, { left: pct(start), width: pct(end - start) });
        block.dataset.chapter = i + 1;
        block.addEventListener("click", () => play(start, end));
        track.append(block);
      });
      continue;
    }
    plan.cues.forEach((c, i) => {
      if (!test(c)) return;
      const [start, end] = plan.cue_samples[i];
      const label = c.text || c.phase || c.sound || c.kind;
      const block = el("div", { className: `block ${c.kind} ${c.phase || ""}`,
        title: `${c.start_s.toFixed(1)} s ${label}` }, c.kind === "speech" ? c.text : "");
      Object.assign(block.style, { left: pct(start), width: pct(end - start) });
      block.addEventListener("click", () => { play(start, end); reveal(start); });
      track.append(block);
    });
  }
  const overlay = el("div", { className: "track", id: "overlay" });
  overlay.style.pointerEvents = "none";
  overlay.append(el("div", { className: "step-span", id: "step-span" }),
    el("div", { className: "playhead", id: "playhead" }));
  box.append(overlay);
  markStep();
}

function stepAtCaret() {
  if (!state.plan) return null;
  const line = lineOf($("text").selectionStart);
  let found = null;
  for (const step of state.plan.steps) if (step.line <= line) found = step;
  return found;
}

function reveal(sample) {
  // The text follows the timeline too: a block clicked shows the step it comes from.
  const step = state.plan.steps.find((s) => s.start <= sample && sample < s.end);
  if (step) goToLine(step.line);
}

function markStep() {
  const span = $("step-span");
  const step = stepAtCaret();
  if (!span || !state.plan) return;
  span.style.display = step ? "block" : "none";
  if (!step) return;
  const total = state.plan.total_samples;
  span.style.left = `${(100 * step.start) / total}%`;
  span.style.width = `${(100 * (step.end - step.start)) / total}%`;
}

// --- sound ------------------------------------------------------------------------------------

function play(start, end) {
  const player = $("player");
  player.dataset.from = start;
  player.src = `/play/${state.id}.wav?from=${start}&to=${end}`;
  player.play().catch((e) => status(`could not play: ${e.message}`));
}

function playhead() {
  const head = $("playhead");
  const player = $("player");
  if (!head || !state.plan || !player.dataset.from) return;
  const at = Number(player.dataset.from) + player.currentTime * state.plan.sample_rate;
  head.style.display = "block";
  head.style.left = `${(100 * at) / state.plan.total_samples}%`;
}

async function voicesFor(language) {
  state.language = language;
  const chosen = settings().voice;
  showVoices(await api(`/api/voices?language=${encodeURIComponent(language)}`), chosen);
}

function showVoices(voices, chosen) {
  const list = $("voices");
  list.replaceChildren();
  for (const v of voices) {
    const item = el("li");
    const radio = el("input", { type: "radio", name: "voice", value: v.spec, id: `voice-${v.spec}` });
    radio.checked = v.spec === chosen;
    radio.addEventListener("change", check);
    const label = el("label", { htmlFor: radio.id, title: v.description },
      `${v.spec} ${v.gender ? `(${v.gender})` : ""}`);
    const sample = el("button", { type: "button", className: "sample", title: "Hear it" }, "\u25B6");
    sample.dataset.voice = v.spec;
    sample.addEventListener("click", () => {
      const player = $("player");
      delete player.dataset.from;
      player.src = `/sample/${state.id}.wav?voice=${encodeURIComponent(v.spec)}`;
      player.play().catch((e) => status(`could not play: ${e.message}`));
    });
    item.append(radio, sample, label);
    list.append(item);
  }
}

function showVars(vars) {
  const form = $("vars");
  form.replaceChildren();
  for (const [name, value] of Object.entries(vars)) {
    const input = el("input", { name, placeholder: value, type: "text" });
    input.addEventListener("input", edited);
    const label = el("label", {}, name);
    label.append(input);
    form.append(label);
  }
  if (!Object.keys(vars).length) form.append(el("p", { className: "fitted" }, "none"));
}

function showCommand() {
  const s = settings();
  const words = ["audioguide", "build", state.file];
  if (s.voice) words.push("--voice", s.voice);
  if (s.rate) words.push("--rate", s.rate);
  if (s.length) words.push("--length", s.length);
  for (const [k, v] of Object.entries(s.vars)) if (v) words.push("--var", `${k}=${v}`);
  $("command").textContent = words.map((w) => (/[^\w./:=+-]/.test(w) ? JSON.stringify(w) : w))
    .join(" ");
}

// --- files ------------------------------------------------------------------------------------

async function openFile(file) {
  const data = await api(`/api/open?file=${encodeURIComponent(file || "")}`);
  Object.assign(state, {
    file: data.file, version: data.version, saved: data.text, hints: data.hints,
    language: data.language,
  });
  $("text").value = data.text;
  $("file").replaceChildren(...data.files.map((f) => el("option", { value: f, selected: f === data.file }, f)));
  showVoices(data.voices, data.voice);
  showVars(data.vars);
  drawGutter();
  status("");
  await check();
}

async function save() {
  try {
    const data = await api("/api/save", { file: state.file, text: $("text").value, version: state.version });
    state.version = data.version;
    state.saved = $("text").value;
    status(data.message);
    return true;
  } catch (e) {
    status("not saved");
    $("result").textContent = e.message;
    return false;
  }
}

async function build(share) {
  const client = $("client").value.trim();
  if (state.saved !== $("text").value && !(await save())) return;
  $("result").textContent = share ? "Sharing..." : "Building...";
  try {
    const data = await api("/api/build", { file: state.file, settings: settings(), share, client });
    $("result").textContent = data.message;
    document.body.dataset.built = data.files[0];
  } catch (e) {
    $("result").textContent = e.message;
  }
}

function start() {
  const text = $("text");
  text.addEventListener("input", edited);
  text.addEventListener("scroll", () => { $("gutter").scrollTop = text.scrollTop; });
  for (const event of ["click", "keyup"]) text.addEventListener(event, caretMoved);
  text.addEventListener("keydown", (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key === "s") { e.preventDefault(); save(); }
    if ((e.ctrlKey || e.metaKey) && e.key === "Enter") { e.preventDefault(); playStep(); }
  });
  for (const id of ["rate", "rate-set", "length", "length-set"]) {
    $(id).addEventListener("input", () => {
      $("rate-value").textContent = $("rate-set").checked ? `${$("rate").value} wpm` : "as written";
      $("length-value").textContent = $("length-set").checked ? `${$("length").value} min` : "as written";
      edited();
    });
  }
  $("length-value").textContent = "as written";
  $("save").addEventListener("click", save);
  $("build").addEventListener("click", () => build(false));
  $("share").addEventListener("click", () => build(true));
  $("play-step").addEventListener("click", playStep);
  $("stop").addEventListener("click", () => $("player").pause());
  $("player").addEventListener("timeupdate", playhead);
  $("file").addEventListener("change", (e) => {
    if (unsaved() && !confirm(`${state.file} has changes not saved: leave them?`)) {
      e.target.value = state.file;
      return;
    }
    openFile(e.target.value);
  });
  window.addEventListener("beforeunload", (e) => { if (unsaved()) e.preventDefault(); });
  openFile("").catch((e) => status(e.message));
}

function unsaved() { return state.saved !== $("text").value; }

function playStep() {
  const step = stepAtCaret();
  if (step) play(step.start, step.end);
}

start();
