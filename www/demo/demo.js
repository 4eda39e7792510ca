// The demo: paste notes, search them. Note text is only ever set with textContent, never as HTML.
import { Retriever } from "../lib/index.js";

const BUNDLE_URL = new URL("../../models/default/", import.meta.url);
const $ = (id) => document.getElementById(id);
const notes = new Map();
const SAMPLE_NOTES = [
  "Welcome! These notes live only in this page. Add your own on the left and search on the right.",
  "Sourdough: feed the starter with equal weights of flour and water each morning; bake when it doubles.",
  "Bike: the chain skips on the smallest cog. Measure chain stretch and replace it past 0.5%.",
  "Reading list: The Left Hand of Darkness, Piranesi, and a history of the printing press.",
];
let retriever;
let nextId = 1;

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

function renderNotes() {
  $("note-count").textContent = `(${notes.size})`;
  $("notes").replaceChildren(
    ...[...notes.values()].map((text) => {
      const li = document.createElement("li");
      li.textContent = text;
      return li;
    }),
  );
}

async function addNote() {
  const text = $("note-text").value.trim();
  if (!text) return;
  const id = `note-${nextId++}`;
  try {
    const started = performance.now();
    await retriever.add([{ id, text }]);
    notes.set(id, text);
    $("note-text").value = "";
    renderNotes();
    setStatus(`Indexed note in ${Math.round(performance.now() - started)} ms · ${notes.size} notes`);
    await search();
  } catch (err) {
    setStatus(`Could not add the note: ${err.message}`, true);
  }
}

/** The note as text nodes, its best passage in <mark> when that is not the whole note. */
function highlighted(text, { start, end }) {
  if (start === 0 && end >= text.length) return [document.createTextNode(text)];
  const mark = document.createElement("mark");
  mark.textContent = text.slice(start, end);
  return [document.createTextNode(text.slice(0, start)), mark, document.createTextNode(text.slice(end))];
}

async function search() {
  const query = $("query").value;
  try {
    const hits = await retriever.search(query, 10);
    $("results").replaceChildren(
      ...hits.map((hit) => {
        const li = document.createElement("li");
        li.dataset.id = hit.id;
        const score = document.createElement("span");
        score.className = "score";
        score.textContent = hit.score.toFixed(2);
        li.append(score, ...highlighted(notes.get(hit.id) ?? "", hit.passage));
        return li;
      }),
    );
  } catch (err) {
    setStatus(`Search failed: ${err.message}`, true);
  }
}

async function main() {
  try {
    const started = performance.now();
    retriever = await Retriever.load(BUNDLE_URL);
    setStatus(`Model ready in ${Math.round(performance.now() - started)} ms · add notes, then search`);
  } catch (err) {
    setStatus(`Could not load the model: ${err.message}`, true);
    return;
  }
  const samples = SAMPLE_NOTES.map((text) => ({ id: `note-${nextId++}`, text }));
  await retriever.add(samples);
  for (const { id, text } of samples) notes.set(id, text);
  renderNotes();
  $("add-note").disabled = false;
  $("query").disabled = false;
  $("add-note").addEventListener("click", addNote);
  $("query").addEventListener("input", search);
  document.body.dataset.ready = "true";
}

main();
