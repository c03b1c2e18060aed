/**
 * A program's JSON answer on stdout: the whole text (one document, on one line or pretty over
 * several, as installers before 0.2 printed it), else its last line (a document after other lines).
 * The ones that parse, in that order.
 */
export function jsonDocuments(stdout: string): unknown[] {
  const text = stdout.trim();
  const found: unknown[] = [];
  for (const candidate of [text, text.split("\n").at(-1) ?? ""]) {
    try {
      found.push(JSON.parse(candidate));
    } catch {
      // not this form: the next one
    }
  }
  return found;
}
