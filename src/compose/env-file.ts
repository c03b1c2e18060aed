/**
 * `.env` files as compose reads them: KEY=VALUE lines, comments, optional `export` and quotes.
 */

export interface EnvVariable {
  name: string;
  value: string;
  /** Secrets are not echoed when asked for and not written into the install record. */
  secret: boolean;
}

const SECRET_NAME = /(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE|CREDENTIAL)/i;

export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

export function parseEnvFile(text: string): EnvVariable[] {
  const variables: EnvVariable[] = [];
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (!line || line.startsWith("#")) continue;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$/.exec(line);
    if (!match) continue;
    const name = match[1]!;
    let value = match[2]!;
    const quoted = /^(['"])(.*)\1$/.exec(value);
    if (quoted)
      value = quoted[1] === '"' ? quoted[2]!.replace(/\\n/g, "\n").replace(/\\"/g, '"') : quoted[2]!;
    else value = value.replace(/\s+#.*$/, "");
    const existing = variables.findIndex((v) => v.name === name);
    const variable = { name, value, secret: isSecretName(name) };
    if (existing >= 0) variables[existing] = variable;
    else variables.push(variable);
  }
  return variables;
}

/** Writes KEY=VALUE lines, quoting values that need it so that compose reads them back unchanged. */
export function formatEnvFile(
  values: ReadonlyArray<{ name: string; value: string }>,
  header?: string,
): string {
  const lines = header ? header.split("\n").map((l) => `# ${l}`) : [];
  for (const { name, value } of values) {
    const needsQuotes = /[\s#"'$\\]/.test(value) || value === "";
    lines.push(needsQuotes && value !== "" ? `${name}='${value.replace(/'/g, "")}'` : `${name}=${value}`);
  }
  return lines.join("\n") + "\n";
}

export function envToRecord(
  variables: ReadonlyArray<{ name: string; value: string }>,
): Record<string, string> {
  return Object.fromEntries(variables.map((v) => [v.name, v.value]));
}
