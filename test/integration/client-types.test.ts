/**
 * The types the package exports for client authors, checked the way an app would use them: the
 * example in docs/clients.md is compiled against the built package (`chat-server` resolves to
 * dist/src/index.d.ts through package.json `exports`), and wrong payloads must fail to compile.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import ts from "typescript";
import { REPO_ROOT } from "../helpers/chat-server.js";

const MARKER = "<!-- typed-client-example";

/** Every ```ts block after the marker: the full example first, then shorter snippets. */
function docsBlocks(): string[] {
  const markdown = readFileSync(path.join(REPO_ROOT, "docs", "clients.md"), "utf8");
  const at = markdown.indexOf(MARKER);
  assert.ok(at >= 0, "docs/clients.md has no typed-client-example marker");
  const blocks = [...markdown.slice(at).matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] ?? "");
  assert.ok(blocks[0], "no ```ts block after the marker");
  return blocks;
}

const HEADER = `import { io, type Socket } from "socket.io-client";
import type { ClientToServerEvents, ServerToClientEvents } from "chat-server";
const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io("http://localhost:3000");
`;

/** Snippets an app author could get wrong, each with the compiler message it must produce. */
const WRONG: Record<string, { code: string; error: RegExp }> = {
  "send message with made-up field names": {
    code: `await socket.emitWithAck("send message", { to: "bob", text: "hi" });`,
    error: /'to' does not exist in type 'SendMessagePayload'/,
  },
  "log in with a number for the username": {
    code: `socket.emit("log in", { username: 42 }, (answer) => console.log(answer.ok));`,
    error: /Type 'number' is not assignable to type 'string'/,
  },
  "a misspelt event name": {
    code: `socket.emit("sendmessage", { username: "bob", message: "hi" });`,
    error: /"sendmessage"/,
  },
  "reading a field a new message does not have": {
    code: `socket.on("new message", (m) => console.log(m.body));`,
    error: /Property 'body' does not exist on type 'NewMessage'/,
  },
  "using an answer's id without checking ok": {
    code: `const a = await socket.emitWithAck("send message", { username: "b", message: "m" });
console.log(a.id.length);`,
    error: /Property 'id' does not exist/,
  },
  "watch with one name instead of a list": {
    code: `await socket.emitWithAck("watch", { usernames: "bob" });`,
    error: /Type 'string' is not assignable to type 'string\[\]'/,
  },
  "reading a field a presence event does not have": {
    code: `socket.on("presence", (p) => console.log(p.user));`,
    error: /Property 'user' does not exist on type 'PresenceEvent'/,
  },
  "an error code that is not in the catalogue": {
    code: `import { ErrorCode } from "chat-server";
const code: ErrorCode = "SOMETHING_ELSE";`,
    error: /"SOMETHING_ELSE"' is not assignable to type 'ErrorCode'/,
  },
};

/** Type-checks in-memory files placed under test/fixtures/, as if they were part of an app. */
function typeCheck(files: Record<string, string>) {
  const dir = path.join(REPO_ROOT, "test", "fixtures", "typed-client");
  const sources = new Map(
    Object.entries(files).map(([name, text]) => [path.join(dir, `${name}.ts`), text]),
  );
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    lib: ["lib.es2023.d.ts", "lib.dom.d.ts"],
    types: [],
    strict: true,
    noEmit: true,
    skipLibCheck: true,
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (name, language, ...rest) => {
    const text = sources.get(name);
    return text === undefined
      ? getSourceFile(name, language, ...rest)
      : ts.createSourceFile(name, text, language);
  };
  host.fileExists = (name) => sources.has(name) || fileExists(name);
  host.readFile = (name) => sources.get(name) ?? readFile(name);
  const program = ts.createProgram([...sources.keys()], options, host);
  const diagnosticsOf = (name: string) => {
    const file = program.getSourceFile(path.join(dir, `${name}.ts`));
    assert.ok(file);
    return ts
      .getPreEmitDiagnostics(program, file)
      .map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"));
  };
  return { program, diagnosticsOf };
}

describe("types for client authors", () => {
  const [example = "", ...snippets] = docsBlocks();
  const files: Record<string, string> = { example };
  for (const [i, snippet] of snippets.entries()) files[`snippet${i}`] = HEADER + snippet;
  for (const [i, { code }] of Object.values(WRONG).entries()) files[`wrong${i}`] = HEADER + code;
  const { program, diagnosticsOf } = typeCheck(files);

  it("the docs/clients.md example type-checks against the built package", () => {
    assert.deepEqual(diagnosticsOf("example"), []);
    const entry = path.join(REPO_ROOT, "dist", "src", "index.d.ts");
    assert.ok(
      program.getSourceFiles().some((f) => path.resolve(f.fileName) === entry),
      "`chat-server` should resolve to dist/src/index.d.ts (run npm run build)",
    );
  });

  it("the shorter snippets there (presence, typing) type-check too", () => {
    assert.ok(snippets.length >= 2, "expected the presence and typing snippets");
    for (const i of snippets.keys()) assert.deepEqual(diagnosticsOf(`snippet${i}`), []);
  });

  for (const [i, [name, { error }]] of Object.entries(WRONG).entries()) {
    it(`rejects ${name}`, () => {
      const diagnostics = diagnosticsOf(`wrong${i}`);
      assert.ok(
        diagnostics.some((text) => error.test(text)),
        `expected ${error}, got:\n${diagnostics.join("\n---\n") || "(no errors)"}`,
      );
    });
  }
});
