/**
 * The relay's line in a holder's `authorized_keys`, added and taken out so that the file is byte
 * for byte what it was, whatever its shape (no final newline, CRLF, comments, options, empty or
 * absent). Pure functions over the file's bytes (latin1: every byte kept as it is); relay.ts reads
 * and writes the file on the host, atomically and only if nobody changed it meanwhile.
 *
 * A relay line ends with its rollout's id as the key's comment (`sealift-relay-HEX`), and `+nl`
 * when a newline had to be added before it (the file did not end with one): taking the line out
 * takes that newline too, so that a file without a final newline gets none; `+new` when the file
 * was made for it (it is removed again).
 */

/** A relay line's comment: its rollout's id, and what was done to the file for it. */
const RELAY_COMMENT = / (sealift-relay-[0-9a-f]+)(\+nl|\+new)?$/;

export interface RelayLine {
  /** The options (restrict, expiry-time, from, command), already quoted for authorized_keys. */
  options: string;
  /** The public key: "ssh-ed25519 AAAA..." (its comment is replaced by the id). */
  publicKey: string;
  id: string;
}

/** Quotes a value for an authorized_keys option: inside "...", only `"` is escaped (as sshd reads it). */
export function optionValue(value: string): string {
  if (/[\r\n\0]/.test(value))
    throw new Error(`an authorized_keys option cannot hold ${JSON.stringify(value)}`);
  return `"${value.replace(/"/g, '\\"')}"`;
}

/** The file's bytes (null: there is none) with the relay line added at its end. */
export function addRelayLine(content: Buffer | null, line: RelayLine): Buffer {
  const text = content?.toString("latin1") ?? "";
  const separator = text.length > 0 && !text.endsWith("\n");
  const [type, key] = line.publicKey.trim().split(/\s+/);
  const mark = content === null ? "+new" : separator ? "+nl" : "";
  return Buffer.from(
    `${text}${separator ? "\n" : ""}${line.options} ${type} ${key} ${line.id}${mark}\n`,
    "latin1",
  );
}

/**
 * The file's bytes with relay lines taken out exactly as they were added: the ones `remove` says
 * (by id), default every one; null when the file was made for a line taken out and holds nothing
 * else. Also the ids taken out.
 */
export function removeRelayLines(
  content: Buffer,
  remove: (id: string) => boolean = () => true,
): { content: Buffer | null; removed: string[] } {
  let made = false;
  let text = content.toString("latin1");
  const removed: string[] = [];
  for (;;) {
    const lines = text.split("\n");
    const index = lines.findIndex((l) => {
      const m = RELAY_COMMENT.exec(l);
      return !!m && remove(m[1]!);
    });
    if (index < 0) break;
    const m = RELAY_COMMENT.exec(lines[index]!)!;
    removed.push(m[1]!);
    made ||= m[2] === "+new";
    const before = lines.slice(0, index).join("\n");
    const after = lines.slice(index + 1).join("\n");
    // The line was added with a newline of its own; "+nl": and one before it, where the file had none.
    const isLast = after === "";
    if (m[2] === "+nl" && isLast) text = before;
    else text = index === 0 ? after : `${before}\n${after}`;
  }
  return { content: made && text === "" ? null : Buffer.from(text, "latin1"), removed };
}

/** The relay ids found in the file (a rollout's own and what interrupted ones left). */
export function relayIds(content: Buffer): string[] {
  return content
    .toString("latin1")
    .split("\n")
    .flatMap((l) => {
      const m = RELAY_COMMENT.exec(l);
      return m ? [m[1]!] : [];
    });
}
