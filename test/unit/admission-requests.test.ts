import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setImmediate as turn } from "node:timers/promises";
import { AdmissionRequests } from "../../src/cluster/admission-requests.js";

describe("admission requests (a worker asking the primary to count new sessions)", () => {
  it("asks the questions of one turn in one message and matches answers by order", async () => {
    const sent: string[][] = [];
    const requests = new AdmissionRequests((addresses) => sent.push(addresses));
    const first = [requests.ask("10.0.0.1"), requests.ask("10.0.0.2")];
    await turn();
    const second = requests.ask("10.0.0.3");
    await turn();
    assert.deepEqual(sent, [["10.0.0.1", "10.0.0.2"], ["10.0.0.3"]]);
    assert.equal(requests.pending, 3);
    requests.answer([true, false]);
    requests.answer([true]);
    assert.deepEqual(await Promise.all([...first, second]), [true, false, true]);
    assert.equal(requests.pending, 0);
  });
});
