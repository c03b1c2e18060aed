/** The batching vocabulary operators know from Ansible (serial, a parallel limit), in one place. */
import { SealiftError } from "../errors.js";

export function count(spec: string, total: number): number {
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(spec);
  const n = pct ? Math.floor((Number(pct[1]) / 100) * total) : Number(spec);
  if (!Number.isFinite(n) || n < 0)
    throw new SealiftError("USAGE", `"${spec}" is neither a number nor a percentage`, {
      hint: "e.g. 1, 5, 30%",
    });
  return Math.max(pct ? 1 : 0, Math.floor(n));
}

/** Ansible's serial: batch sizes, the last repeating, until every host is in one. */
export function batches<T>(hosts: readonly T[], serial: readonly string[]): T[][] {
  if (!serial.length) return hosts.length ? [[...hosts]] : [];
  const out: T[][] = [];
  let i = 0;
  let k = 0;
  while (i < hosts.length) {
    const size = Math.max(1, count(serial[Math.min(k, serial.length - 1)]!, hosts.length));
    out.push(hosts.slice(i, i + size));
    i += size;
    k++;
  }
  return out;
}

/** Runs `work` on each item, at most `limit` at once; stops starting new ones when `stop()` says so. */
export async function fanOut<T>(
  items: readonly T[],
  limit: number,
  stop: () => boolean,
  work: (item: T) => Promise<void>,
) {
  let next = 0;
  const runners = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length && !stop()) await work(items[next++]!);
  });
  await Promise.all(runners);
}
