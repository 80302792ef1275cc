// Runtime code of the puller Lambda: its packages are bundled into the function by esbuild (devDependencies).
/* eslint-disable import/no-extraneous-dependencies */
import { Tokenizer, TokenParser, TokenType } from '@streamparser/json';
import { pathKeys } from './config';

/** What a scan of one JSON body found. */
export interface ScanResult {
  /** Number of elements in the records array (when a records path was given). */
  readonly records: number;
  /** Whether the records array was found (when a records path was given). */
  readonly recordsFound: boolean;
  /** The value at the cursor path (a string's value, or a number's literal text as sent), if any. */
  readonly cursor?: string;
}

interface Frame {
  readonly kind: 'object' | 'array';
  /** This container is the records array. */
  readonly isRecords: boolean;
  key?: string;
  index: number;
  expectKey: boolean;
}

/**
 * A tokenizer that hands numbers over as their literal text: a numeric cursor above 2^53 goes
 * back to the API exactly as it came (`Number()` would round 9007199254740993 to ...992).
 */
class LiteralNumberTokenizer extends Tokenizer {
  protected parseNumber(numberStr: string): any {
    return numberStr;
  }
}

/**
 * Validates a JSON document chunk by chunk and reads the few things pagination needs (the length
 * of the records array, the next cursor) without building the document: memory stays flat
 * however large the body is. The tokenizer and the token parser (kept in "validate only" mode,
 * emitting nothing) come from `@streamparser/json`; the path tracking is ours.
 */
export class JsonScanner {
  private readonly tokenizer: Tokenizer;
  private readonly validator: TokenParser;
  private readonly recordsKeys?: string[];
  private readonly cursorKeys?: string[];
  private readonly stack: Frame[] = [];
  private records = 0;
  private recordsFound = false;
  private cursor?: string;
  private error?: Error;
  private sawToken = false;
  private carry?: Buffer;

  constructor(options: { recordsPath?: string; cursorPath?: string }) {
    this.recordsKeys = options.recordsPath !== undefined ? pathKeys(options.recordsPath) : undefined;
    this.cursorKeys = options.cursorPath !== undefined ? pathKeys(options.cursorPath) : undefined;
    this.tokenizer = new LiteralNumberTokenizer({ stringBufferSize: 64 * 1024, numberBufferSize: 64 });
    // Emits nothing (no path matches) and keeps no stack: it only checks the grammar, and every
    // completed value is dropped from its parent, so nothing accumulates.
    this.validator = new TokenParser({ paths: ['$.\u0000'], keepStack: false });
    this.validator.onValue = () => undefined;
    this.validator.onError = (err) => this.fail(err);
    this.tokenizer.onError = (err) => this.fail(err);
    this.tokenizer.onToken = (info) => {
      this.sawToken = true;
      this.track(info.token, info.value);
      if (!this.error) this.validator.write(info);
    };
  }

  /**
   * Feeds a chunk. Never throws: the first error is kept and reported by `finish()`. A UTF-8
   * character split across chunks is held back until it is whole (the tokenizer mis-decodes a
   * character split into more than two writes).
   */
  public write(chunk: Uint8Array): void {
    if (this.error) return;
    let bytes = chunk;
    if (this.carry) {
      bytes = Buffer.concat([this.carry, chunk]);
      this.carry = undefined;
    }
    const whole = completeUtf8Length(bytes);
    if (whole < bytes.length) {
      this.carry = Buffer.from(bytes.subarray(whole));
      bytes = bytes.subarray(0, whole);
    }
    if (bytes.length === 0) return;
    try {
      this.tokenizer.write(bytes);
    } catch (err) {
      this.fail(err as Error);
    }
  }

  /** Ends the document; throws if it was not one complete JSON value. */
  public finish(): ScanResult {
    if (!this.error && this.carry) this.fail(new Error('the body ends inside a UTF-8 character'));
    if (!this.error) {
      try {
        if (!this.tokenizer.isEnded) this.tokenizer.end();
        if (!this.sawToken) throw new Error('the body holds no JSON value');
        if (!this.validator.isEnded) this.validator.end();
      } catch (err) {
        this.fail(err as Error);
      }
    }
    if (this.error) throw this.error;
    return { records: this.records, recordsFound: this.recordsFound, cursor: this.cursor };
  }

  private fail(err: Error) {
    this.error ??= err;
  }

  /**
   * Whether the value starting at the current token is at `keys`. Compares the open containers'
   * keys in place (no path is built: this runs for every value of the body).
   */
  private atPath(keys: string[] | undefined): boolean {
    if (!keys || keys.length !== this.stack.length) return false;
    for (let i = 0; i < keys.length; i++) {
      const frame = this.stack[i];
      const key = frame.kind === 'object' ? frame.key : String(frame.index);
      if (key !== keys[i]) return false;
    }
    return true;
  }

  /** A value starts: count it if it is a record; note the records array and the cursor. */
  private onValue(kind: 'array' | 'object' | 'primitive', value: unknown): boolean {
    const top = this.stack[this.stack.length - 1];
    if (top?.isRecords) this.records += 1;
    const isRecords = this.atPath(this.recordsKeys);
    if (isRecords) {
      if (kind !== 'array') this.fail(new Error(`the value at the records path "${joinPath(this.recordsKeys!)}" is not an array`));
      this.recordsFound = true;
    }
    if (kind === 'primitive' && value !== null && value !== '' && this.atPath(this.cursorKeys)) this.cursor = String(value);
    return isRecords && kind === 'array';
  }

  private track(token: TokenType, value: unknown) {
    const top = this.stack[this.stack.length - 1];
    switch (token) {
      case TokenType.LEFT_BRACE:
      case TokenType.LEFT_BRACKET: {
        const kind = token === TokenType.LEFT_BRACE ? 'object' : 'array';
        const isRecords = this.onValue(kind, undefined);
        this.stack.push({ kind, isRecords, index: 0, expectKey: kind === 'object' });
        return;
      }
      case TokenType.RIGHT_BRACE:
      case TokenType.RIGHT_BRACKET:
        this.stack.pop();
        return;
      case TokenType.COLON:
        if (top) top.expectKey = false;
        return;
      case TokenType.COMMA:
        if (top?.kind === 'object') top.expectKey = true;
        if (top?.kind === 'array') top.index += 1;
        return;
      default:
        if (top?.kind === 'object' && top.expectKey) {
          top.key = String(value);
          return;
        }
        this.onValue('primitive', value);
    }
  }
}

/** Length of the longest prefix of `bytes` that does not end inside a UTF-8 character. */
function completeUtf8Length(bytes: Uint8Array): number {
  const n = bytes.length;
  // Look back at most 3 bytes for the lead byte of the last character.
  for (let i = n - 1; i >= 0 && i >= n - 4; i--) {
    const b = bytes[i];
    if (b >= 0x80 && b < 0xc0) continue; // continuation byte (10xxxxxx)
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return i + need <= n ? n : i;
  }
  return n;
}

function joinPath(keys: string[]): string {
  return keys.length === 0 ? '$' : `$.${keys.join('.')}`;
}
