/**
 * Compose's variable interpolation: $VAR, ${VAR}, ${VAR:-default}, ${VAR-default},
 * ${VAR:?error}, ${VAR?error}, ${VAR:+alt}, ${VAR+alt}; `$$` is a literal `$`.
 */

export class InterpolationError extends Error {}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

export function interpolate(text: string, vars: Readonly<Record<string, string | undefined>>): string {
  let out = "";
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c !== "$") {
      out += c;
      i++;
    } else if (text[i + 1] === "$") {
      out += "$";
      i += 2;
    } else if (text[i + 1] === "{") {
      // Find the matching brace: defaults may hold ${...} themselves.
      let depth = 1;
      let j = i + 2;
      for (; j < text.length; j++) {
        if (text[j] === "{") depth++;
        else if (text[j] === "}" && --depth === 0) break;
      }
      if (depth !== 0) throw new InterpolationError(`unclosed "\${" in "${text}"`);
      out += expand(text.slice(i + 2, j), vars);
      i = j + 1;
    } else {
      const name = NAME.exec(text.slice(i + 1))?.[0];
      out += name ? (vars[name] ?? "") : "$";
      i += 1 + (name?.length ?? 0);
    }
  }
  return out;
}

function expand(inner: string, vars: Readonly<Record<string, string | undefined>>): string {
  const match = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([\s\S]*))?$/.exec(inner);
  if (!match) throw new InterpolationError(`invalid interpolation format "\${${inner}}"`);
  const [, name, op, arg = ""] = match;
  const value = vars[name!];
  const set = value !== undefined;
  const nonEmpty = set && value !== "";
  switch (op) {
    case undefined:
      return value ?? "";
    case ":-":
      return nonEmpty ? value! : interpolate(arg, vars);
    case "-":
      return set ? value! : interpolate(arg, vars);
    case ":?":
      if (!nonEmpty) throw new InterpolationError(`required variable ${name} is not set: ${arg}`);
      return value!;
    case "?":
      if (!set) throw new InterpolationError(`required variable ${name} is not set: ${arg}`);
      return value!;
    case ":+":
      return nonEmpty ? interpolate(arg, vars) : "";
    default: // "+"
      return set ? interpolate(arg, vars) : "";
  }
}

/** Interpolates every string in a parsed YAML document (keys stay as written, as compose does). */
export function interpolateDeep<T>(value: T, vars: Readonly<Record<string, string | undefined>>): T {
  if (typeof value === "string") return interpolate(value, vars) as T;
  if (Array.isArray(value)) return value.map((v) => interpolateDeep(v, vars)) as T;
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateDeep(v, vars)])) as T;
  }
  return value;
}
