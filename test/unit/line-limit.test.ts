import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LineLimit } from "../../src/client/line-limit.js";

/** Feeds `chunks` through a LineLimit of `maxBytes`; returns what came out and the drops. */
async function run(maxBytes: number, chunks: (string | Buffer)[]) {
  let dropped = 0;
  const limit = new LineLimit(maxBytes, () => dropped++);
  const out: Buffer[] = [];
  limit.on("data", (chunk: Buffer) => out.push(chunk));
  const ended = new Promise((resolve) => limit.on("end", resolve));
  for (const chunk of chunks) limit.write(chunk);
  limit.end();
  await ended;
  return { text: Buffer.concat(out).toString("utf8"), dropped };
}

describe("terminal client input line limit", () => {
  it("passes lines up to the limit unchanged, however the input is split", async () => {
    const result = await run(12, ["bob: h", "i\nal", "ice: 12345\n", "\n", "c: last"]);
    assert.deepEqual(result, { text: "bob: hi\nalice: 12345\n\nc: last", dropped: 0 });
  });

  it("drops a longer line, reported once, and keeps the lines around it", async () => {
    const result = await run(10, ["ok: 1\nbob: ", "x".repeat(30), "yz\nok: 2\n"]);
    assert.deepEqual(result, { text: "ok: 1\nok: 2\n", dropped: 1 });
  });

  it("counts bytes, not characters, and not the newline", async () => {
    const result = await run(7, ["a: éé\na: ééé\n"]);
    assert.deepEqual(result, { text: "a: éé\n", dropped: 1 });
  });

  it("an endless line (like /dev/zero) is dropped once and never held", async () => {
    const zeros = Buffer.alloc(64 * 1024);
    const limit = new LineLimit(1000, () => {});
    let held = 0;
    limit.on("data", (chunk: Buffer) => {
      held += chunk.length;
    });
    for (let i = 0; i < 160; i++) limit.write(zeros); // 10 MiB without a newline
    assert.equal(held, 0);
    // What it keeps of the current line stays within the limit.
    const pending = (limit as unknown as { pendingBytes: number }).pendingBytes;
    assert.ok(pending <= 1000, `holds ${pending} bytes`);
    const result = await run(1000, [zeros, zeros, "\nok: after\n"]);
    assert.deepEqual(result, { text: "ok: after\n", dropped: 1 });
  });
});
