/** SHA256SUMS in the format `sha256sum -c` reads: "<hex>  <path>" a line, text mode. */
import type { FileRecord } from "./manifest.js";

export function formatSha256Sums(files: ReadonlyArray<Pick<FileRecord, "path" | "sha256">>): string {
  return files.map((f) => `${f.sha256}  ${f.path}\n`).join("");
}

export function parseSha256Sums(text: string): Map<string, string> | { error: string } {
  const sums = new Map<string, string>();
  const lines = text.split("\n");
  for (const [index, line] of lines.entries()) {
    if (!line) continue;
    const match = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (!match) return { error: `line ${index + 1} is not "<sha256>  <path>"` };
    if (sums.has(match[2]!)) return { error: `line ${index + 1} lists ${match[2]} twice` };
    sums.set(match[2]!, match[1]!);
  }
  return sums;
}
