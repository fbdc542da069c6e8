import type { DayCount } from '../../schemas/analytics.js';

/** Days of per-day statistics kept and shown, today (UTC) included. */
export const DAY_WINDOW = 30;

const MS_PER_DAY = 86_400_000;

/** The UTC calendar day of an instant, `YYYY-MM-DD`: the key of per-day counters. */
export function dayKey(at: Date | string | number): string {
  return new Date(at).toISOString().slice(0, 10);
}

/** The oldest day shown in a window ending today. */
export function firstDayShown(now: Date = new Date()): string {
  return dayKey(now.getTime() - (DAY_WINDOW - 1) * MS_PER_DAY);
}

/**
 * Whether a per-day counter for `day` is still worth writing. Counters for days that have left
 * the window are never shown, so they are not written, which also means a key older than the
 * window can be removed at any time without racing a writer.
 */
export function isDayKept(day: string, now: Date = new Date()): boolean {
  return day >= firstDayShown(now);
}

/**
 * Keys of a per-day map that may be dropped: older than the window by more than a day, so that
 * replicas with slightly different clocks never drop a day another one still writes.
 */
export function expiredDays(days: Record<string, unknown> | undefined, now: Date = new Date()): string[] {
  if (!days) return [];
  const cutoff = dayKey(now.getTime() - DAY_WINDOW * MS_PER_DAY);
  return Object.keys(days).filter((d) => d < cutoff);
}

/** The window as a dense series, oldest first, with zeros for days without events. */
export function daySeries(days: Record<string, number> | undefined, now: Date = new Date()): DayCount[] {
  const out: DayCount[] = [];
  for (let i = DAY_WINDOW - 1; i >= 0; i--) {
    const date = dayKey(now.getTime() - i * MS_PER_DAY);
    out.push({ date, count: days?.[date] ?? 0 });
  }
  return out;
}
