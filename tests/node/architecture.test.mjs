// The house rules ARCHITECTURE.md states, kept true: every source file is in its table, and no module
// imports one that imports it back (JavaScript modules in www/lib; Rust modules at each level of
// src/, by their `crate::`/`super::` paths).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { repoRoot } from "./helpers.mjs";

function files(dir, ext) {
  return readdirSync(join(repoRoot, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(repoRoot, path)).isDirectory()) return files(path, ext);
    return path.endsWith(ext) ? [path] : [];
  });
}

/** A cycle in `edges` (Map of node -> Set of nodes), as a list of nodes, or null. */
function findCycle(edges) {
  const state = new Map();
  const stack = [];
  const visit = (node) => {
    state.set(node, "open");
    stack.push(node);
    for (const next of edges.get(node) ?? []) {
      if (state.get(next) === "open") return [...stack.slice(stack.indexOf(next)), next];
      if (!state.has(next)) {
        const cycle = visit(next);
        if (cycle) return cycle;
      }
    }
    stack.pop();
    state.set(node, "done");
    return null;
  };
  for (const node of edges.keys()) {
    if (!state.has(node)) {
      const cycle = visit(node);
      if (cycle) return cycle;
    }
  }
  return null;
}

test("every source file is named in ARCHITECTURE.md", () => {
  const doc = readFileSync(join(repoRoot, "ARCHITECTURE.md"), "utf8");
  const sources = [...files("src", ".rs"), ...files("src", ".wgsl"), ...files("www/lib", ".js")];
  assert.ok(sources.length > 40, `${sources.length} files`);
  const missing = sources.filter((path) => !doc.includes(`\`${path}\``) && !path.endsWith("/lib.rs"));
  assert.deepEqual(missing, [], "files ARCHITECTURE.md does not name");
});

test("no JavaScript module of the package imports one that imports it back", () => {
  const edges = new Map();
  for (const path of files("www/lib", ".js")) {
    const source = readFileSync(join(repoRoot, path), "utf8");
    const imports = [...source.matchAll(/^import[^;]*?from\s+"\.\/([\w.-]+\.js)"/gms)].map(([, name]) => `www/lib/${name}`);
    edges.set(path, new Set(imports));
  }
  assert.ok(edges.size > 10);
  assert.equal(findCycle(edges), null);
});

test("no Rust module imports one that imports it back, at any level", () => {
  const sources = files("src", ".rs");
  // A file's module path: src/score/gpu/mod.rs -> score::gpu, src/score/gpu/layout.rs -> score::gpu::layout.
  const moduleOf = (path) => relative("src", path).replace(/(\/mod)?\.rs$/, "").replace(/^lib$/, "").split("/").filter(Boolean);
  const edges = new Map();
  const addEdge = (from, to) => {
    // Compare siblings: the first place where the two paths differ.
    let i = 0;
    while (i < from.length && i < to.length && from[i] === to[i]) i++;
    if (i >= from.length || i >= to.length) return; // a parent and its child
    const [a, b] = [from.slice(0, i + 1).join("::"), to.slice(0, i + 1).join("::")];
    if (!edges.has(a)) edges.set(a, new Set());
    edges.get(a).add(b);
  };
  for (const path of sources) {
    const here = moduleOf(path);
    const source = readFileSync(join(repoRoot, path), "utf8").replace(/#\[cfg\(test\)\][\s\S]*$/, "");
    for (const [, supers, rest] of source.matchAll(/\b(?:crate::|((?:super::)+))((?:[a-z_][a-z0-9_]*::)*)/g)) {
      const up = supers ? supers.length / "super::".length : here.length;
      const resolved = [...here.slice(0, here.length - up), ...rest.split("::").filter(Boolean)];
      if (resolved.length) addEdge(here, resolved);
    }
  }
  assert.ok(edges.size > 5, `${edges.size} modules with imports`);
  assert.equal(findCycle(edges), null);
});
