// A small static server for the demo: serves www/ and models/ of this checkout on 127.0.0.1 only.
// usage: node scripts/serve.mjs [--port 8080]   (port 0 picks a free one; the URL is printed)
import { createServer } from "node:http";
import { createReadStream, statSync } from "node:fs";
import { extname, normalize, sep } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../", import.meta.url));
const SERVED = ["www", "models"];
const TYPES = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8", ".json": "application/json", ".wasm": "application/wasm",
  ".onnx": "application/octet-stream", ".ts": "text/plain; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png",
};

/** `extraRoots`: more repository folders to serve (benchmarks add node_modules/onnxruntime-web/dist). */
export function startServer(port = 8080, host = "127.0.0.1", extraRoots = []) {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    if (path === "/") {
      res.writeHead(302, { location: "/www/demo/" }).end();
      return;
    }
    const rel = normalize(path).replace(/^[/\\]+/, "");
    const served = [...SERVED, ...extraRoots].some((dir) => rel === dir || rel.startsWith(dir + sep));
    let file = root + rel;
    if (!served || rel.includes("..")) return notFound(res);
    try {
      if (statSync(file).isDirectory()) file += (file.endsWith("/") ? "" : "/") + "index.html";
      const { size } = statSync(file);
      res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream", "content-length": size });
      createReadStream(file).pipe(res);
    } catch {
      notFound(res);
    }
  });
  return new Promise((resolve) => server.listen(port, host, () => resolve(server)));
}

function notFound(res) {
  res.writeHead(404, { "content-type": "text/plain" }).end("not found");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const at = process.argv.indexOf("--port");
  const port = at > 0 ? Number(process.argv[at + 1]) : Number(process.env.PORT ?? 8080);
  const server = await startServer(port);
  console.log(`colbert-wasm demo: http://127.0.0.1:${server.address().port}/www/demo/`);
}
