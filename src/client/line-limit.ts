/**
 * Bounds the lines of piped input before the line reader sees them. Node's readline keeps a line
 * that never ends in memory without limit, so input such as `/dev/zero` grew it until the client
 * died (`RangeError: Invalid string length`). This passes lines of up to `maxBytes` through
 * unchanged, drops longer ones (reporting each as soon as it goes over), and so never holds more
 * than `maxBytes`.
 */
import { Transform, type TransformCallback } from "node:stream";

const NEWLINE = 0x0a;

export class LineLimit extends Transform {
  /** Bytes of the current line, held until its newline (at most maxBytes). */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** The current line went over the limit: drop the rest of it. */
  private dropping = false;

  constructor(
    private readonly maxBytes: number,
    /** Called once per dropped line, when it goes over the limit. */
    private readonly onDropped: () => void,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    let start = 0;
    while (start < chunk.length) {
      const newline = chunk.indexOf(NEWLINE, start);
      const end = newline < 0 ? chunk.length : newline + 1;
      this.addPiece(chunk.subarray(start, end), newline >= 0);
      start = end;
    }
    done();
  }

  override _flush(done: TransformCallback): void {
    this.endLine();
    done();
  }

  /** A piece of the current line; `ends`: it holds the line's newline. */
  private addPiece(piece: Buffer, ends: boolean): void {
    if (!this.dropping) {
      const lineBytes = this.pendingBytes + piece.length - (ends ? 1 : 0);
      if (lineBytes > this.maxBytes) {
        this.dropping = true;
        this.pending = [];
        this.pendingBytes = 0;
        this.onDropped();
      } else {
        this.pending.push(piece);
        this.pendingBytes += piece.length;
      }
    }
    if (ends) this.endLine();
  }

  private endLine(): void {
    if (!this.dropping && this.pendingBytes > 0) {
      this.push(Buffer.concat(this.pending, this.pendingBytes));
    }
    this.dropping = false;
    this.pending = [];
    this.pendingBytes = 0;
  }
}
