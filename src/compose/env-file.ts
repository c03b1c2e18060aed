/**
 * `.env` files: the settings an operator is asked for and the file the installer writes. Compose
 * reads the file itself (and is the authority on what the project means); here the values are
 * only read to offer them as defaults, and the file is written so that compose reads back what was
 * meant: a setting left at its default keeps the template's own line, as written (quotes,
 * `${OTHER}` references, comments), and one answered otherwise is written literally.
 */

export interface EnvVariable {
  name: string;
  /** The value as written, unquoted; `${...}` references are left for compose to expand. */
  value: string;
  /** Secrets are not echoed when asked for and not written into the install record. */
  secret: boolean;
  /** The line(s) of the file that set it, as written. */
  raw: string;
}

const SECRET_NAME = /(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE|CREDENTIAL)/i;

export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

const ASSIGNMENT = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$/;

/**
 * The variables a `.env` sets, with compose's quoting rules: 'single' is literal, "double" may span
 * lines and takes \n, \" and \\ escapes, a comment after a quoted value or after whitespace is not
 * part of the value. The last assignment of a name wins.
 */
export function parseEnvFile(text: string): EnvVariable[] {
  const lines = text.split(/\r?\n/);
  const variables: EnvVariable[] = [];
  for (let i = 0; i < lines.length; i++) {
    const match = ASSIGNMENT.exec(lines[i]!);
    if (!match || lines[i]!.trim().startsWith("#")) continue;
    const name = match[1]!;
    let rest = match[2]!;
    const rawLines = [lines[i]!];
    let value: string;
    const quote = rest[0];
    if (quote === "'" || quote === '"') {
      // Find the closing quote, reading on over line ends for a double-quoted value.
      let body = rest.slice(1);
      let end = closingQuote(body, quote);
      while (end < 0 && quote === '"' && i + 1 < lines.length) {
        i++;
        rawLines.push(lines[i]!);
        body += `\n${lines[i]}`;
        end = closingQuote(body, quote);
      }
      const inner = end < 0 ? body : body.slice(0, end);
      value = quote === '"' ? inner.replace(/\\(["\\n])/g, (_, c: string) => (c === "n" ? "\n" : c)) : inner;
      rest = "";
    } else value = rest.replace(/\s+#.*$/, "").trim();
    const variable = { name, value, secret: isSecretName(name), raw: rawLines.join("\n") };
    const existing = variables.findIndex((v) => v.name === name);
    if (existing >= 0) variables.splice(existing, 1);
    variables.push(variable);
  }
  return variables;
}

function closingQuote(body: string, quote: string): number {
  for (let j = 0; j < body.length; j++) {
    if (quote === '"' && body[j] === "\\") {
      j++;
      continue;
    }
    if (body[j] === quote) return j;
  }
  return -1;
}

/** One KEY=VALUE line that compose reads back as exactly VALUE (single quotes: no expansion). */
function literalLine(name: string, value: string): string {
  if (value === "" || /^[A-Za-z0-9_./:@%+,-]+$/.test(value)) return `${name}=${value}`;
  if (!value.includes("'") && !value.includes("\n")) return `${name}='${value}'`;
  return `${name}="${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n").replace(/\$/g, "\\$")}"`;
}

/** Writes KEY=VALUE lines, quoting values that need it so that compose reads them back unchanged. */
export function formatEnvFile(
  values: ReadonlyArray<{ name: string; value: string }>,
  header?: string,
): string {
  const lines = header ? header.split("\n").map((l) => `# ${l}`) : [];
  for (const { name, value } of values) lines.push(literalLine(name, value));
  return lines.join("\n") + "\n";
}

/**
 * The `.env` to install: the template's lines as written (comments too) where a setting keeps its
 * default, a literal line where it was answered otherwise, and settings the template lacks after it.
 */
export function envFileText(
  template: string | null,
  values: ReadonlyArray<{ name: string; value: string }>,
  header: string,
): string {
  const parsed = template === null ? [] : parseEnvFile(template);
  let text = template ?? "";
  for (const v of parsed) {
    const wanted = values.find((x) => x.name === v.name);
    if (wanted && wanted.value !== v.value) text = text.replace(v.raw, literalLine(v.name, wanted.value));
  }
  const added = values.filter((v) => !parsed.some((p) => p.name === v.name));
  const body =
    (text && !text.endsWith("\n") ? `${text}\n` : text) + (added.length ? formatEnvFile(added) : "");
  return `${header
    .split("\n")
    .map((l) => `# ${l}`)
    .join("\n")}\n${body}`;
}

export function envToRecord(
  variables: ReadonlyArray<{ name: string; value: string }>,
): Record<string, string> {
  return Object.fromEntries(variables.map((v) => [v.name, v.value]));
}
