/**
 * Serves the web client from `public/`. The files are read once at start-up into memory, so a
 * request can only ever get one of them: no path from the URL touches the file system.
 */
import { readdirSync, readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import path from "node:path";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json",
  ".webmanifest": "application/manifest+json",
};

/**
 * The web client runs only its own files: no inline script or style, no other origin, and no
 * page may frame it (clickjacking). `connect-src 'self'` covers its WebSocket to this host.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

export const PUBLIC_DIR = path.resolve(import.meta.dirname, "..", "..", "..", "public");

export function createStaticHandler(dir = PUBLIC_DIR) {
  const files = new Map<string, { body: Buffer; type: string }>();
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    // no web client shipped: every path is a 404
  }
  for (const name of names) {
    const type = TYPES[path.extname(name)];
    if (type) files.set(`/${name}`, { body: readFileSync(path.join(dir, name)), type });
  }
  const index = files.get("/index.html");
  if (index) files.set("/", index);

  return (req: IncomingMessage, res: ServerResponse): void => {
    const pathname = (req.url ?? "/").split("?")[0] ?? "/";
    const file = files.get(pathname);
    if (!file || (req.method !== "GET" && req.method !== "HEAD")) {
      res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" }).end("Not found\n");
      return;
    }
    res.writeHead(200, {
      "Content-Type": file.type,
      "Content-Length": file.body.length,
      "Cache-Control": "no-cache",
      "X-Content-Type-Options": "nosniff",
      "Content-Security-Policy": CONTENT_SECURITY_POLICY,
      // For browsers without CSP frame-ancestors.
      "X-Frame-Options": "DENY",
      "Referrer-Policy": "no-referrer",
    });
    res.end(req.method === "HEAD" ? undefined : file.body);
  };
}
