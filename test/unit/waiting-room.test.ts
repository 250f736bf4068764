import assert from "node:assert/strict";
import { Socket } from "node:net";
import { describe, it, mock } from "node:test";
import { MAX_WAIT_MS, MAX_WAITING, WaitingRoom } from "../../src/cluster/waiting-room.js";

describe("waiting room (new sessions no worker can take yet)", () => {
  it("lets them out oldest first, forgets those that close, and is bounded in number", () => {
    const room = new WaitingRoom(() => assert.fail("no one timed out"));
    const sockets = Array.from({ length: MAX_WAITING }, () => new Socket());
    for (const [i, socket] of sockets.entries()) {
      assert.ok(room.enter(socket, Buffer.from(String(i))));
    }
    assert.equal(room.enter(new Socket(), Buffer.from("one too many")), false);
    sockets[0]?.emit("close");
    assert.equal(room.size, MAX_WAITING - 1);
    assert.equal(room.next()?.[1].toString(), "1");
    assert.equal(room.next()?.[1].toString(), "2");
    while (room.next());
    assert.equal(room.size, 0);
  });

  it("gives up on a connection after MAX_WAIT_MS", () => {
    mock.timers.enable({ apis: ["setTimeout"] });
    try {
      const timedOut: string[] = [];
      const room = new WaitingRoom((_socket, head) => timedOut.push(head.toString()));
      room.enter(new Socket(), Buffer.from("slow"));
      mock.timers.tick(MAX_WAIT_MS - 1);
      assert.deepEqual(timedOut, []);
      mock.timers.tick(1);
      assert.deepEqual(timedOut, ["slow"]);
      assert.equal(room.size, 0);
    } finally {
      mock.timers.reset();
    }
  });
});
