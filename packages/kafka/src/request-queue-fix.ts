import { createRequire } from 'node:module';

interface RequestQueue {
  pending: unknown[];
  scheduleCheckPendingRequests(): void;
}

/**
 * kafkajs 2.2.4 (its last release) re-arms a timer in every broker connection after each check of
 * its pending requests, whether or not a request waits: each connection wakes the process every
 * millisecond for as long as it is open, which made most of an idle service's CPU (measured here:
 * an idle consumer with 8 requests in 10 s used 134 ms of CPU). A check is only needed while
 * requests wait (throttled or over the in-flight limit), and `push` schedules one as soon as a
 * request has to wait, so the timer is armed only then.
 */
export function fixIdleRequestQueueTimer(): void {
  const require = createRequire(import.meta.url);
  const RequestQueue = require('kafkajs/src/network/requestQueue/index.js') as { prototype: RequestQueue & { __idleFix?: true } };
  const proto = RequestQueue.prototype;
  if (proto.__idleFix) return;
  const schedule = proto.scheduleCheckPendingRequests;
  proto.scheduleCheckPendingRequests = function (this: RequestQueue) {
    if (this.pending.length === 0) return;
    schedule.call(this);
  };
  proto.__idleFix = true;
}
