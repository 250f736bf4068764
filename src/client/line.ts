/**
 * The terminal client's text format: input lines `recipient: text`, output lines `from: text`.
 * Pure functions, so they are tested without a server.
 */
import { isValidUsername } from "../protocol.js";

export interface ParsedLine {
  recipient: string;
  text: string;
}

export type LineResult = { ok: true; line: ParsedLine } | { ok: false; reason: string } | undefined;

/**
 * Reads one input line. Blank lines give `undefined` (nothing to do). The recipient is everything
 * before the first colon, trimmed; the text is everything after it, with the one space that
 * usually follows the colon removed and trailing line-end characters dropped.
 */
export function parseLine(raw: string): LineResult {
  const line = raw.replace(/[\r\n]+$/, "");
  if (line.trim() === "") return undefined;
  const colon = line.indexOf(":");
  if (colon < 0) return { ok: false, reason: "expected `recipient: text`" };
  const recipient = line.slice(0, colon).trim();
  const text = line.slice(colon + 1).replace(/^ /, "");
  if (!isValidUsername(recipient)) {
    return {
      ok: false,
      reason: `"${printable(recipient)}" is not a username (1-32 of A-Z a-z 0-9 _ . -)`,
    };
  }
  if (text.trim() === "") return { ok: false, reason: `no text to send to ${recipient}` };
  return { ok: true, line: { recipient, text } };
}

/** One output line for an incoming message: `from: text`, never more than one line. */
export function formatIncoming(from: string, text: string): string {
  return `${printable(from)}: ${printable(text)}`;
}

/**
 * Makes untrusted text safe to print on a terminal: line breaks become a visible `\n` so every
 * message stays on one line, and other control characters (which could move the cursor or
 * recolour the terminal) become `\xNN` escapes.
 */
export function printable(text: string): string {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x0d && text.charCodeAt(i + 1) === 0x0a) continue; // CR LF: one line break
    if (code === 0x0a || code === 0x0d) out += "\\n";
    else if (code === 0x09 || (code >= 0x20 && code < 0x7f) || code > 0x9f) out += text[i];
    else out += `\\x${code.toString(16).padStart(2, "0")}`;
  }
  return out;
}
