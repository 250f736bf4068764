// node's spec reporter, plus an account of skipped tests. Every skip (a test, or a whole suite,
// which node does not count at all) is listed just before the summary lines. With CI=true a skip
// is a failure: CI installs every prerequisite (.ci/run), so a skip there means a check did not
// run. It is reported as a failing test and counted as one in the summary lines, so the output
// still ends with node's summary and that summary tells the truth.
// The runner (scripts/run-tests.js) reads the skips back from $CHAT_TEST_SKIPS_FILE.
import { writeFileSync } from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { spec } from "node:test/reporters";

export const strict = /^(1|true|yes)$/i.test(process.env.CI ?? "");

function where(data) {
  return data.file
    ? `${path.relative(process.cwd(), data.file)}${data.line ? `:${data.line}` : ""}`
    : "";
}

async function* account(source) {
  const skips = [];
  let summarised = false;
  for await (const event of source) {
    const data = event.data ?? {};
    if (event.type === "test:pass" && data.skip !== undefined && data.skip !== false) {
      const reason = typeof data.skip === "string" ? data.skip : "skipped";
      const suite = data.details?.type === "suite";
      skips.push({ name: data.name, suite, reason, where: where(data) });
      if (strict) {
        const error = new Error(
          `skipped in CI (CI=true), where every prerequisite is installed: ${reason}`,
        );
        error.stack = error.message;
        yield {
          type: "test:fail",
          data: { ...data, skip: undefined, details: { ...data.details, error } },
        };
        continue;
      }
    }
    if (event.type === "test:diagnostic" && data.nesting === 0) {
      const [, key, value] = /^(\w+) (\d+(?:\.\d+)?)$/.exec(data.message ?? "") ?? [];
      if (key === "tests" && !summarised) {
        summarised = true;
        if (process.env.CHAT_TEST_SKIPS_FILE) {
          writeFileSync(process.env.CHAT_TEST_SKIPS_FILE, JSON.stringify(skips));
        }
        for (const message of skipSummary(skips)) {
          yield { type: "test:diagnostic", data: { nesting: 0, message } };
        }
      }
      if (strict && summarised && key) {
        const suites = skips.filter((s) => s.suite).length;
        const adjusted = {
          tests: Number(value) + suites,
          fail: Number(value) + skips.length,
          skipped: Number(value) - (skips.length - suites),
        }[key];
        if (adjusted !== undefined) {
          yield { ...event, data: { ...data, message: `${key} ${adjusted}` } };
          continue;
        }
      }
    }
    yield event;
  }
}

function skipSummary(skips) {
  if (skips.length === 0) return ["skip summary: nothing skipped"];
  return [
    `skip summary: ${skips.length} skipped (${skips.filter((s) => s.suite).length} of them whole suites, their tests not counted by node)${strict ? "; CI=true makes each a failure" : ""}`,
    ...skips.map(
      (s) => `  skipped ${s.suite ? "suite" : "test"} "${s.name}" (${s.where}): ${s.reason}`,
    ),
  ];
}

export default async function* reporter(source) {
  // node 20-24 make the spec reporter a Transform stream (`spec()` builds one); a generator
  // function, like the other built-in reporters, is handled too.
  const made = spec();
  yield* typeof made?.pipe === "function"
    ? Readable.from(account(source)).pipe(made)
    : spec(account(source));
}
