/** `pack --strict`, applied in one place: the warnings its rules name become one error. */
import { SealiftError } from "../errors.js";
import type { Warning } from "../report.js";
import { STRICT_RULES, type WarningCode } from "../warnings.js";

/** The error `--strict` makes of `warnings` (the first rule with any), or null. */
export function strictError(warnings: readonly Warning[]): SealiftError | null {
  for (const rule of STRICT_RULES) {
    const found = warnings.filter((w) => (rule.codes as readonly WarningCode[]).includes(w.code));
    if (found.length)
      return new SealiftError(rule.error, `${rule.what(found.length)} and --strict`, {
        hint: rule.hint,
        details: found.map((w) => `${w.code} ${w.message}`),
      });
  }
  return null;
}

/** Throws the `--strict` error for what was said so far, when packing with --strict. */
export function enforceStrict(options: {
  strict?: boolean;
  reporter: { warnings: readonly Warning[] };
}): void {
  const error = options.strict ? strictError(options.reporter.warnings) : null;
  if (error) throw error;
}
