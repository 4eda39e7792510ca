// The demo: an offline personal-notes search. Notes live in this browser: each note's text and vectors
// in one IndexedDB record (`persist` + `storeText`: saved or refused together), the app itself in a
// service worker; note text is only ever set with textContent, never as HTML.
import { Retriever } from "../lib/index.js";

const BUNDLE_URL = new URL("../../models/default/", import.meta.url);
/** Where earlier versions of the demo kept note texts: moved into the index once, then removed. */
const LEGACY_NOTES_KEY = "colbert-wasm-demo-notes";
const INDEX_NAME = "colbert-wasm-demo";
const EXPLAINED_HITS = 3;
const NOTE_PREVIEW_CHARS = 600;
const $ = (id) => document.getElementById(id);
const SAMPLE_NOTES = [
  "Welcome! These notes live only in this browser. Add your own on the left and search on the right.",
  "Sourdough: feed the starter with equal weights of flour and water each morning; bake when it doubles.",
  "Bike: the chain skips on the smallest cog. Measure chain stretch and replace it past 0.5%.",
  "Reading list: The Left Hand of Darkness, Piranesi, and a history of the printing press.",
];
/** id -> text, in insertion order: what the index stores, for rendering. */
let notes = new Map();
let retriever;
let editing = null;
let searchSerial = 0;

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

/** The progress bar: a fraction in [0, 1], `null` for busy-without-a-measure, `false` to hide it. */
function setProgress(fraction) {
  const bar = $("progress");
  bar.hidden = fraction === false;
  if (fraction === null) bar.removeAttribute("value");
  else if (fraction !== false) bar.value = fraction;
}

const MB = (bytes) => (bytes / 1e6).toFixed(1);

/** Indexing progress in both the bar and the status line. */
function indexingProgress(label) {
  return (done, total) => {
    setProgress(done / total);
    setStatus(`${label} ${done} of ${total}…`);
  };
}

/** Notes an earlier version of the demo kept in localStorage (to move into the index), if any. */
function legacyNotes() {
  try {
    const saved = JSON.parse(localStorage.getItem(LEGACY_NOTES_KEY) ?? "null");
    return saved ? Object.entries(saved) : [];
  } catch {
    return []; // unreadable: nothing to move
  }
}

function button(label, onClick) {
  const b = document.createElement("button");
  b.textContent = label;
  b.className = "small";
  b.addEventListener("click", onClick);
  return b;
}

function renderNotes() {
  $("note-count").textContent = `(${notes.size})`;
  $("notes").replaceChildren(
    ...[...notes].map(([id, text]) => {
      const li = document.createElement("li");
      li.dataset.id = id;
      const body = document.createElement("span");
      body.className = "note-text";
      // The list shows four lines of a note (style.css): laying out a 1 MB note whole would hold
      // the page for seconds on every change, so only its start goes into the page.
      body.textContent = text.length > NOTE_PREVIEW_CHARS ? `${text.slice(0, NOTE_PREVIEW_CHARS)}…` : text;
      li.append(body, button("Edit", () => startEdit(id)), button("Delete", () => deleteNote(id)));
      return li;
    }),
  );
}

function startEdit(id) {
  editing = id;
  $("note-text").value = notes.get(id);
  $("add-note").textContent = "Save note";
  $("note-text").focus();
}

async function saveNote() {
  const text = $("note-text").value.trim();
  if (!text) return;
  const id = editing ?? `note-${Date.now().toString(36)}`;
  try {
    const started = performance.now();
    await retriever.add([{ id, text }]);
    notes.set(id, text);
    editing = null;
    $("add-note").textContent = "Add note";
    $("note-text").value = "";
    renderNotes();
    setStatus(`Indexed in ${Math.round(performance.now() - started)} ms · ${notes.size} notes`);
    await search();
  } catch (err) {
    setStatus(`Could not save the note: ${err.message}`, true);
  }
}

async function deleteNote(id) {
  try {
    await retriever.remove(id);
    notes.delete(id);
    renderNotes();
    await search();
  } catch (err) {
    setStatus(`Could not delete the note: ${err.message}`, true);
  }
}

async function importFiles(files) {
  const docs = [];
  for (const file of files) {
    if (!/\.(md|txt|markdown)$/i.test(file.name)) continue;
    docs.push({ id: `file-${file.name}`, text: await file.text() });
  }
  if (!docs.length) return;
  try {
    await retriever.add(docs, { onProgress: indexingProgress("Indexing files:") });
    for (const { id, text } of docs) notes.set(id, text);
    renderNotes();
    setStatus(`Imported ${docs.length} file(s) · ${notes.size} notes`);
  } catch (err) {
    setStatus(`Could not import: ${err.message}`, true);
  }
  setProgress(false);
}

/**
 * A hit as nodes: a short note whole, a long note as its best passage in <mark> between ellipses;
 * the words the query matched in <b class="match">: `late` (the words its tokens picked, by
 * meaning), `lexical` (the same words, stemmed: BM25), or both. Ranges are of the whole note's text.
 */
function highlighted(text, passage, late = [], lexical = []) {
  const wholeNote = passage.start === 0 && passage.end >= text.length;
  const [from, to] = wholeNote ? [0, text.length] : [passage.start, passage.end];
  const cuts = new Set([from, to, ...[...late, ...lexical].flatMap((w) => [w.start, w.end])]);
  const points = [...cuts].filter((p) => p >= from && p <= to).sort((a, b) => a - b);
  const within = (ranges, start, end) => ranges.some((w) => w.start <= start && end <= w.end);
  const pieces = [];
  for (let i = 0; i + 1 < points.length; i++) {
    const [start, end] = [points[i], points[i + 1]];
    const node = document.createTextNode(text.slice(start, end));
    const kinds = [within(late, start, end) && "late", within(lexical, start, end) && "lexical"].filter(Boolean);
    if (kinds.length) {
      const b = document.createElement("b");
      b.className = ["match", ...kinds].join(" ");
      b.title = kinds.length === 2 ? "matched by meaning and by word" : kinds[0] === "late" ? "matched by meaning" : "matched by word";
      b.append(node);
      pieces.push(b);
    } else pieces.push(node);
  }
  if (wholeNote) return pieces;
  const mark = document.createElement("mark");
  mark.append(...pieces);
  return [from > 0 ? "… " : "", mark, to < text.length ? " …" : ""];
}

/** Document ranges of the query's real words (not special tokens) MaxSim matched well. */
const lateRanges = (matches) => matches.filter((m) => m.queryRange && m.docRange && m.score > 0.3).map((m) => m.docRange);
/** Document ranges of the query words the passage holds (BM25). */
const lexicalRanges = (matches) => matches.words.flatMap((w) => w.docRanges);

function resultItem(hit, matches) {
  const li = document.createElement("li");
  li.dataset.id = hit.id;
  const score = document.createElement("span");
  score.className = "score";
  score.textContent = hit.score.toFixed(3);
  const text = notes.get(hit.id) ?? "";
  li.append(score, ...(matches ? highlighted(text, hit.passage, lateRanges(matches), lexicalRanges(matches)) : highlighted(text, hit.passage)));
  return li;
}

async function search() {
  const query = $("query").value;
  const serial = ++searchSerial;
  try {
    const hits = await retriever.search(query, 10);
    if (serial !== searchSerial) return; // a newer keystroke's search owns the list
    $("results").replaceChildren(...hits.map((hit) => resultItem(hit)));
    $("backend").textContent = hits.backend === "webgpu" ? "WebGPU" : `CPU (${hits.backend})`;
    // Why the top hits matched: the words each query token picked and the query words each holds,
    // highlighted in place.
    for (const hit of hits.slice(0, EXPLAINED_HITS)) {
      const matches = await retriever.explain(query, notes.get(hit.id) ?? "", hit);
      if (serial !== searchSerial) return;
      const old = $("results").querySelector(`li[data-id="${CSS.escape(hit.id)}"]`);
      old?.replaceWith(resultItem(hit, matches));
    }
  } catch (err) {
    setStatus(`Search failed: ${err.message}`, true);
  }
}

async function openIndex() {
  const options = {
    persist: INDEX_NAME,
    storeText: true,
    onProgress(loaded, total) {
      setProgress(loaded / total);
      setStatus(`Downloading the model: ${MB(loaded)} of ${MB(total)} MB`);
      if (loaded >= total) {
        setProgress(null);
        setStatus("Preparing the model…");
      }
    },
  };
  try {
    return await Retriever.load(BUNDLE_URL, options);
  } catch (err) {
    if (err.name !== "IndexError") throw err;
    // Built by another model or format version: start over (its notes cannot be read back).
    await Retriever.deleteIndex(INDEX_NAME);
    return Retriever.load(BUNDLE_URL, options);
  }
}

async function main() {
  // Offline after the first visit. The worker lives in www/sw.js so its scope (/www/) covers the
  // package's Web Worker too: a worker is controlled by the registration whose scope holds its URL.
  navigator.serviceWorker?.register(new URL("../sw.js", import.meta.url)).catch(() => {});
  try {
    const started = performance.now();
    retriever = await openIndex();
    // Notes from an earlier version's localStorage (their unchanged texts are not encoded again, only
    // stored with their vectors), or the samples on a first visit.
    const stored = await retriever.documents();
    const legacy = legacyNotes();
    const fresh = stored.length === 0 && legacy.length === 0 ? SAMPLE_NOTES.map((text, i) => [`note-${i + 1}`, text]) : legacy;
    const report = await retriever.add(fresh.map(([id, text]) => ({ id, text })), {
      onProgress: indexingProgress("Indexing notes:"),
    });
    localStorage.removeItem(LEGACY_NOTES_KEY);
    setProgress(false);
    notes = new Map((await retriever.documents()).map((d) => [d.id, d.text ?? ""]));
    renderNotes();
    const where = retriever.gpuAdapter ? `WebGPU available (${retriever.gpuAdapter})` : "CPU";
    setStatus(`Ready in ${Math.round(performance.now() - started)} ms · ${notes.size} notes (${report.encoded} indexed now) · ${where}`);
    $("backend").textContent = retriever.backend === "webgpu" ? "WebGPU" : `CPU (${retriever.backend})`;
  } catch (err) {
    setProgress(false);
    setStatus(`Could not load the model: ${err.message}`, true);
    return;
  }
  $("add-note").disabled = false;
  $("query").disabled = false;
  $("add-note").addEventListener("click", saveNote);
  $("query").addEventListener("input", search);
  $("file-input").addEventListener("change", (e) => importFiles(e.target.files));
  document.addEventListener("dragover", (e) => e.preventDefault());
  document.addEventListener("drop", (e) => {
    e.preventDefault();
    importFiles(e.dataTransfer.files);
  });
  document.body.dataset.ready = "true";
}

main();
