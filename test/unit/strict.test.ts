import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { strictError } from "../../src/packager/strict.js";
import type { Warning } from "../../src/report.js";

describe("pack --strict (one place turns warnings into an error)", () => {
  it("leaves warnings that no rule names alone", () => {
    assert.equal(strictError([{ code: "DIRTY_TREE", message: "uncommitted" }]), null);
  });
  it("makes one error of a rule's warnings, data before lint, listing each", () => {
    const warnings: Warning[] = [
      { code: "BASE_UNPINNED", message: "web/Dockerfile:1: FROM nginx: no tag" },
      { code: "ADD_URL", message: "api/Dockerfile:5: ADD from a URL" },
      { code: "DATA_NOT_SHIPPED", message: "service model mounts ./models" },
    ];
    const data = strictError(warnings);
    assert.equal(data?.code, "DATA_NOT_SHIPPED");
    assert.match(data!.message, /^1 bind mount\(s\) need data that is not shipped and --strict$/);
    const lint = strictError(warnings.slice(0, 2));
    assert.equal(lint?.code, "LINT_FAILED");
    assert.equal(lint!.message, "2 Dockerfile problem(s) and --strict");
    assert.deepEqual(lint!.details, [
      "BASE_UNPINNED web/Dockerfile:1: FROM nginx: no tag",
      "ADD_URL api/Dockerfile:5: ADD from a URL",
    ]);
    assert.equal(strictError([{ code: "CACHE_MOUNT_EMPTY", message: "empty" }])?.code, "BUILD_FAILED");
  });
});
