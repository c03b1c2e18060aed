/** Numbers for people: what a progress line shows at 9 GiB and at 1 KiB. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { formatBytes, formatEta, formatRate } from "../../src/util/format.js";

describe("progress numbers", () => {
  test("a rate is rounded and has its unit, never a raw float", () => {
    assert.equal(formatRate(35.059311493446955), "35 B/s");
    assert.equal(formatRate(157 * 1024 * 1024), "157 MiB/s");
    assert.equal(formatRate(Number.NaN), "0 B/s");
    assert.equal(formatBytes(9 * 1024 ** 3), "9.0 GiB");
  });

  test("time left is said only once it means something", () => {
    const total = 9 * 1024 ** 3;
    assert.equal(formatEta(1126, total, 33_700), "", "1 KiB of 9 GiB: too early to promise");
    assert.equal(formatEta(total / 2, total, 1000), "", "under 3 s: too early");
    assert.equal(formatEta(total / 2, total, 30_000), "30.0 s left");
    assert.equal(formatEta(total, total, 60_000), "", "done");
  });
});
