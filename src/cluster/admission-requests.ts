/**
 * A worker that accepts connections itself asks the primary, which counts sessions per address
 * over every worker, whether a new session may start (`--max-connections-per-ip`). Questions
 * asked in one event-loop turn go as one IPC message; the primary answers each message with one
 * message, in order, so answers are matched to questions by position.
 */
import { TurnBatcher } from "../routing/turn-batcher.js";

export class AdmissionRequests {
  private readonly waiting: ((admitted: boolean) => void)[] = [];
  private readonly questions: TurnBatcher<string>;

  constructor(send: (addresses: string[]) => void) {
    this.questions = new TurnBatcher(send);
  }

  /** Whether a new session from `address` may start here; if so, the primary has counted it. */
  ask(address: string): Promise<boolean> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.questions.push(address);
    });
  }

  /** The primary's answers to the oldest questions not answered yet, in the order asked. */
  answer(results: boolean[]): void {
    for (const admitted of results) this.waiting.shift()?.(admitted);
  }

  get pending(): number {
    return this.waiting.length;
  }
}
