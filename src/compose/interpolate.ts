/**
 * Compose's variable interpolation: $VAR, ${VAR}, ${VAR:-default}, ${VAR-default},
 * ${VAR:?error}, ${VAR?error}, ${VAR:+alt}, ${VAR+alt}; `$$` is a literal `$`.
 */

export class InterpolationError extends Error {}

const PATTERN = /\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])((?:[^}\\]|\\.)*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g;

export function interpolate(text: string, vars: Readonly<Record<string, string | undefined>>): string {
  return text.replace(PATTERN, (whole, braced?: string, op?: string, arg?: string, bare?: string) => {
    if (whole === "$$") return "$";
    const name = (braced ?? bare)!;
    const value = vars[name];
    const set = value !== undefined;
    const nonEmpty = set && value !== "";
    switch (op) {
      case undefined:
        return value ?? "";
      case ":-":
        return nonEmpty ? value! : interpolate(arg ?? "", vars);
      case "-":
        return set ? value! : interpolate(arg ?? "", vars);
      case ":?":
        if (!nonEmpty) throw new InterpolationError(`required variable ${name} is not set: ${arg ?? ""}`);
        return value!;
      case "?":
        if (!set) throw new InterpolationError(`required variable ${name} is not set: ${arg ?? ""}`);
        return value!;
      case ":+":
        return nonEmpty ? interpolate(arg ?? "", vars) : "";
      case "+":
        return set ? interpolate(arg ?? "", vars) : "";
      default:
        return whole;
    }
  });
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
