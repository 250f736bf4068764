// The outbox: one message at a time, in order, only while logged in.

import { ERROR_WORDS, errorWords } from "./errors.js";
import { ACK_TIMEOUT_MS, findRecord, save, state } from "./state.js";
import { showNotice } from "./ui.js";
import { render } from "./view.js";

/**
 * Messages leave the queue when the server answers. Without an answer (connection lost, timed
 * out) they go again after the next log in; RATE_LIMITED and UNAVAILABLE are retried after a
 * pause; other errors mark the message as not sent. `logIn` is called when the server says
 * this connection is no longer logged in.
 */
export class Outbox {
  constructor(logIn) {
    this.logIn = logIn;
    this.queue = [];
    this.open = false;
    this.busy = false;
    this.generation = 0;
    this.timer = undefined;
  }

  enqueue(peer, key) {
    this.queue.push({ peer, key, attempts: 0, unavailable: 0 });
    this.pump();
  }

  resume() {
    this.open = true;
    this.pump();
  }

  pause() {
    this.open = false;
    this.busy = false;
    this.generation++;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  pump() {
    if (!this.open || this.busy || this.timer !== undefined || !state.session) return;
    const item = this.queue[0];
    if (!item) return;
    const record = findRecord(item.peer, item.key);
    if (!record) {
      this.queue.shift();
      this.pump();
      return;
    }
    this.busy = true;
    item.attempts++;
    setStatus(record, "sending");
    const generation = this.generation;
    state.session.socket
      .timeout(ACK_TIMEOUT_MS)
      .emitWithAck("send message", { username: item.peer, message: record.text })
      .then(
        (answer) => this.answered(generation, item, answer),
        () => this.answered(generation, item, undefined),
      );
  }

  answered(generation, item, answer) {
    if (generation !== this.generation) return; // connection lost meanwhile: sent again later
    this.busy = false;
    const record = findRecord(item.peer, item.key);
    const code = answer && !answer.ok ? answer.error?.code : undefined;
    if (!answer || code === "RATE_LIMITED" || (code === "UNAVAILABLE" && item.unavailable++ < 5)) {
      if (code) showNotice(ERROR_WORDS[code], "warn");
      const delay = Math.min(5000, 250 * 2 ** (item.attempts - 1));
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.pump();
      }, delay);
      return;
    }
    if (code === "NOT_LOGGED_IN") {
      this.open = false;
      this.logIn();
      return;
    }
    this.queue.shift();
    if (record) {
      if (answer.ok) {
        record.id = answer.id;
        setStatus(record, answer.status);
      } else {
        record.error = answer.error?.code ?? "UNKNOWN";
        setStatus(record, "failed");
        showNotice(errorWords(answer.error), "error");
      }
    }
    this.pump();
  }
}

function setStatus(record, status) {
  record.status = status;
  save();
  render();
}
