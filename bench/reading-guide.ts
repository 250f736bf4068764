/**
 * What a newcomer needs to read the benchmark without opening bench/README.md: what each target
 * is, and which ratios to expect. Shown by `--help` and under the report.
 */
import { TARGETS } from "./targets.js";

const COLUMNS = 96;

/** Each target's name and what it is, wrapped under its name's column. */
export function targetsHelp(): string {
  const names = Object.keys(TARGETS) as (keyof typeof TARGETS)[];
  const indent = Math.max(...names.map((n) => n.length)) + 4;
  return names
    .map((n) =>
      wrap(TARGETS[n].description, COLUMNS - indent)
        .map((line, i) =>
          i === 0 ? `  ${n.padEnd(indent - 2)}${line}` : `${" ".repeat(indent)}${line}`,
        )
        .join("\n"),
    )
    .join("\n");
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  return [...lines, line];
}

export const READING_GUIDE = `How to read the report: each run has a column, then ratio columns (run / baseline, same
invocation). For CPU, latency and memory below 1.00x is better; for throughput and
connections/s above. "seed" is the seed article's single Socket.IO process: the cheapest
possible per message, but it can never use a second core. "cluster" is the off-the-shelf
multi-core build (@socket.io/sticky + @socket.io/cluster-adapter) that chat-server replaces.
On a small machine (2 cores shared by server and load generators), expect chat-server at about
1.1x cluster and 2.5-3.5x seed in CPU per message (it also stores every message on disk), about
0.8x seed in connections/s where its workers accept connections themselves (Node.js 22.12 and
later) and 0.4-0.5x where its primary accepts them all (Node.js 20), and about 1.1x seed in RSS
per connection: two workers plus a primary cost more than one process when there is no idle
core to spread onto. The gain over seed shows on machines with more cores.`;
