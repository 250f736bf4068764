/**
 * Redis Cluster hash slots: which of the 16384 slots a key lives in (CRC16/XMODEM of the key, or
 * of its hash tag: the text between the first `{` and the next `}` when not empty). Batches are
 * split per slot so that no script ever touches keys of two slots.
 */
import { Cluster } from "ioredis";
import type { RedisClient } from "./connection.js";

const SLOTS = 16384;

const TABLE = (() => {
  const table = new Uint16Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1;
    table[byte] = crc & 0xffff;
  }
  return table;
})();

function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) crc = ((crc << 8) ^ (TABLE[((crc >> 8) ^ byte) & 0xff] ?? 0)) & 0xffff;
  return crc;
}

/** The slot of a key, as Redis Cluster computes it. */
export function keySlot(key: string): number {
  const open = key.indexOf("{");
  if (open >= 0) {
    const close = key.indexOf("}", open + 1);
    if (close > open + 1) key = key.slice(open + 1, close);
  }
  return crc16(Buffer.from(key, "utf8")) % SLOTS;
}

/**
 * Splits items into groups whose keys share a slot, keeping their order within each group. On a
 * single Redis every key may go in one script, so there is one group.
 */
export function groupBySlot<T>(client: RedisClient, items: T[], keyOf: (item: T) => string): T[][] {
  if (!(client instanceof Cluster)) return items.length > 0 ? [items] : [];
  const groups = new Map<number, T[]>();
  for (const item of items) {
    const slot = keySlot(keyOf(item));
    let group = groups.get(slot);
    if (!group) {
      group = [];
      groups.set(slot, group);
    }
    group.push(item);
  }
  return [...groups.values()];
}

export function isCluster(client: RedisClient): client is Cluster {
  return client instanceof Cluster;
}
