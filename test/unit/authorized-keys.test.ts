/**
 * The relay's line in authorized_keys: added and taken out, the file is byte for byte what it was,
 * whatever its shape. (test/e2e/rollout.test.ts does the same on the SSH field hosts with sshd.)
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { addRelayLine, optionValue, relayIds, removeRelayLines } from "../../src/fleet/authorized-keys.js";

const OPERATOR = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOperatorKeyOperatorKeyOperatorKeyOpe operator@laptop";
const relay = (id: string) => ({
  options: `restrict,from="10.0.0.1,10.0.0.2",command=${optionValue("/bin/sh '/opt/my bundles/.x.sh'")}`,
  publicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIRelayRelayRelayRelayRelayRelayRelayRela sealift-relay-x",
  id,
});

describe("the relay's line leaves authorized_keys as it was", () => {
  const shapes: Record<string, Buffer | null> = {
    "a final newline": Buffer.from(`${OPERATOR}\n`),
    "no final newline": Buffer.from(OPERATOR),
    CRLF: Buffer.from(`${OPERATOR}\r\n# a comment\r\n`),
    "CRLF without a final newline": Buffer.from(`${OPERATOR}\r\n# a comment`),
    "options and comments": Buffer.from(`# team keys\nfrom="10.0.0.0/8",no-pty ${OPERATOR}\n\n`),
    empty: Buffer.alloc(0),
    "bytes that are not UTF-8": Buffer.from([0x23, 0xff, 0xfe, 0x0a, ...Buffer.from(OPERATOR)]),
    absent: null,
  };
  for (const [shape, before] of Object.entries(shapes))
    test(`authorized_keys with ${shape}: byte-identical afterwards, the operator's line intact meanwhile`, () => {
      const added = addRelayLine(before, relay("sealift-relay-0a1b"));
      if (before?.includes(Buffer.from(OPERATOR)))
        assert.ok(
          added
            .toString("latin1")
            .split(/\r?\n/)
            .some((line) => line.endsWith(OPERATOR)),
          "the operator's key stays a line of its own",
        );
      assert.deepEqual(relayIds(added), ["sealift-relay-0a1b"]);
      const { content, removed } = removeRelayLines(added, (id) => id === "sealift-relay-0a1b");
      assert.deepEqual(removed, ["sealift-relay-0a1b"]);
      assert.deepEqual(content, before);
    });

  test("a line someone appended meanwhile stays; leftovers of other rollouts go, the current one stays", () => {
    let file = addRelayLine(Buffer.from(OPERATOR), relay("sealift-relay-01"));
    file = Buffer.concat([file, Buffer.from("ssh-rsa AAAA added@later\n")]);
    file = addRelayLine(file, relay("sealift-relay-02"));
    const swept = removeRelayLines(file, (id) => id !== "sealift-relay-02");
    assert.deepEqual(swept.removed, ["sealift-relay-01"]);
    const { content } = removeRelayLines(swept.content!, () => true);
    assert.equal(content!.toString(), `${OPERATOR}\nssh-rsa AAAA added@later\n`);
  });

  test("an option value with a quote or a backslash is quoted as sshd reads it; a newline is refused", () => {
    assert.equal(optionValue(`/bin/sh '/a "b"\\c'`), `"/bin/sh '/a \\"b\\"\\c'"`);
    assert.throws(() => optionValue("a\nb"));
  });
});
