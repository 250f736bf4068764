/**
 * pino JSON lines on stdout; every line names the process (`primary` or the worker id).
 */
import { type Logger, pino } from "pino";
import type { LogLevel } from "./config.js";

export function createLogger(level: LogLevel, role: "primary" | number): Logger {
  return pino({
    level,
    base: { pid: process.pid, worker: role },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}
