import { createHmac, timingSafeEqual } from 'node:crypto';

/** A position in the newest-first order: the last task of the page before. */
export interface CursorPosition {
  readonly createdAt: Date;
  readonly id: string;
}

const ID = /^[0-9a-f]{24}$/;

/**
 * Opaque, tamper-evident list cursors: base64url JSON of the position, then an HMAC over it and
 * the owner. A cursor we did not issue, or issued to someone else, fails verification, so it can
 * never smuggle a query value into the database.
 */
export class CursorCodec {
  constructor(private readonly secret: string) {}

  encode(ownerId: string, position: CursorPosition): string {
    const body = Buffer.from(JSON.stringify({ t: position.createdAt.getTime(), i: position.id })).toString('base64url');
    return `${body}.${this.sign(ownerId, body).toString('base64url')}`;
  }

  /** The position, or undefined when the cursor is not one of ours for this owner. */
  decode(ownerId: string, cursor: string): CursorPosition | undefined {
    const dot = cursor.indexOf('.');
    if (dot <= 0) return undefined;
    const body = cursor.slice(0, dot);
    const mac = Buffer.from(cursor.slice(dot + 1), 'base64url');
    const expected = this.sign(ownerId, body);
    if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) return undefined;
    try {
      const parsed = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as { t?: unknown; i?: unknown };
      if (typeof parsed.t !== 'number' || !Number.isSafeInteger(parsed.t) || typeof parsed.i !== 'string' || !ID.test(parsed.i))
        return undefined;
      return { createdAt: new Date(parsed.t), id: parsed.i };
    } catch {
      return undefined;
    }
  }

  private sign(ownerId: string, body: string): Buffer {
    return createHmac('sha256', this.secret).update(ownerId).update('\0').update(body).digest();
  }
}
