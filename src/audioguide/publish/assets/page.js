const data = JSON.parse(document.getElementById("data").textContent);
const audio = document.querySelector("audio");
const chapterItems = [...document.querySelectorAll(".chapters li")];
const lineItems = [...document.querySelectorAll(".transcript li")];
function seek(t) { audio.currentTime = t; audio.play().catch(() => {}); }
for (const b of document.querySelectorAll(".chapters button")) {
  b.addEventListener("click", () => seek(parseFloat(b.dataset.start)));
}
for (const li of lineItems) li.addEventListener("click", () => seek(parseFloat(li.dataset.start)));
function current(starts, t) {
  let lo = 0, hi = starts.length - 1, found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (starts[mid] <= t) { found = mid; lo = mid + 1; } else hi = mid - 1;
  }
  return found;
}
const chapterStarts = data.chapters.map(c => c.start), lineStarts = data.lines.map(l => l.start);
let lastLine = -1;
audio.addEventListener("timeupdate", () => {
  const t = audio.currentTime, c = current(chapterStarts, t);
  chapterItems.forEach((li, i) => li.classList.toggle("now", i === c));
  let l = current(lineStarts, t);
  if (l >= 0 && t > data.lines[l].end + 1.5) l = -1;
  if (l !== lastLine) {
    lineItems.forEach((li, i) => li.classList.toggle("now", i === l));
    if (l >= 0) lineItems[l].scrollIntoView({block: "nearest"});
    lastLine = l;
  }
});
// Served by `audioguide serve`, the page reports how far it was played (start, every 15 s of
// listening, pause, end) to "played" beside it; a static host answers 404 and nothing changes.
// No cookie, nothing stored: the address is the client's own private folder.
function report(e) {
  if (!/^https?:$/.test(location.protocol) || !navigator.sendBeacon) return;
  const d = isFinite(audio.duration) ? audio.duration : 0;
  try { navigator.sendBeacon(`played?e=${e}&t=${audio.currentTime.toFixed(1)}&d=${d.toFixed(1)}`); } catch (_) {}
}
let reported = -Infinity;
audio.addEventListener("play", () => { reported = audio.currentTime; report("start"); });
audio.addEventListener("pause", () => report("pause"));
audio.addEventListener("ended", () => report("end"));
audio.addEventListener("seeked", () => { reported = audio.currentTime; report("seek"); });
audio.addEventListener("timeupdate", () => {
  if (!audio.paused && audio.currentTime - reported >= 15) { reported = audio.currentTime; report("progress"); }
});
