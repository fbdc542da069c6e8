import type { ChangeStream, Collection, Document } from 'mongodb';
import type { Log } from '@taskmesh/kafka';

/** A change stream kept open: `active` while it delivers, reopened after every failure. */
export interface ChangeWatch {
  /** The stream is open and answering: the relay may poll rarely. */
  readonly active: boolean;
  close(): Promise<void>;
}

export interface WatchOptions {
  /** A writer may have stored new work (or the stream broke and a change may have been missed). */
  readonly onChange: () => void;
  readonly log: Log;
  /** How long the server holds each empty `getMore`; below the driver's socket timeout. @default 1000 */
  readonly maxAwaitMs?: number;
  /** First delay before reopening a failed stream; doubles up to 30 s. @default 1000 */
  readonly retryMs?: number;
}

const MAX_RETRY_MS = 30_000;

/**
 * Watches a collection for the changes that `pipeline` keeps, so that a relay wakes when a writer
 * (in any process) stores an event, rather than polling. A store without change streams (a
 * standalone server, FerretDB) fails the stream: it is retried with back-off, and meanwhile
 * `active` is false, so the relay polls at its normal rate.
 */
export function watchChanges(collection: Collection<Document>, pipeline: Document[], opts: WatchOptions): ChangeWatch {
  let stream: ChangeStream | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let active = false;
  let failures = 0;
  const up = () => {
    active = true;
    failures = 0;
  };

  const fail = (err: unknown) => {
    const wasActive = active;
    active = false;
    const broken = stream;
    stream = undefined;
    void broken?.close().catch(() => undefined);
    if (closed) return;
    failures++;
    const delay = Math.min((opts.retryMs ?? 1000) * 2 ** (failures - 1), MAX_RETRY_MS);
    if (wasActive || failures === 1)
      opts.log.warn({ err, collection: collection.collectionName, retryInMs: delay }, 'change stream failed; polling until it reopens');
    else opts.log.debug({ err, collection: collection.collectionName, retryInMs: delay }, 'change stream still unavailable');
    opts.onChange();
    timer = setTimeout(open, delay);
    timer.unref();
  };

  const open = () => {
    if (closed) return;
    try {
      const s = collection.watch(pipeline, { maxAwaitTimeMS: opts.maxAwaitMs ?? 1000 });
      stream = s;
      s.on('init', up);
      s.on('resumeTokenChanged', up);
      s.on('change', () => {
        up();
        opts.onChange();
      });
      s.on('error', (err) => {
        if (stream === s) fail(err);
      });
    } catch (err) {
      fail(err);
    }
  };
  open();

  return {
    get active() {
      return active;
    },
    async close() {
      closed = true;
      active = false;
      clearTimeout(timer);
      const s = stream;
      stream = undefined;
      await s?.close().catch(() => undefined);
    },
  };
}
