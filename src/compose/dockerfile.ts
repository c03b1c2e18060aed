/**
 * Just enough of a Dockerfile parser for sealift: instructions with their line numbers (line
 * continuations, comments, parser directives), stages, `RUN --mount=type=cache` options exactly as
 * written, and the COPY sources each stage reads from its context.
 */

export interface Instruction {
  keyword: string;
  /** The arguments, continuation lines joined. */
  args: string;
  /** 1-based line the instruction starts on. */
  line: number;
}

export interface CacheMount {
  /** BuildKit keys the cache on this; when the Dockerfile gives no id it is the target path. */
  id: string;
  target: string;
  /** Options as written (uid, gid, mode, sharing, from, source...), to mount it the same way. */
  options: Record<string, string>;
  line: number;
}

export interface Stage {
  index: number;
  /** The `AS name`, or the index as a string. */
  name: string;
  /** The FROM image as written (may hold ${ARG}). */
  from: string;
  line: number;
  instructions: Instruction[];
}

export interface Dockerfile {
  directives: Record<string, { value: string; line: number }>;
  /** ARGs declared before the first FROM, with their defaults. */
  globalArgs: Record<string, { value: string | undefined; line: number }>;
  stages: Stage[];
}

export function parseDockerfile(text: string): Dockerfile {
  const lines = text.split(/\r?\n/);
  const directives: Dockerfile["directives"] = {};
  const instructions: Instruction[] = [];
  let inDirectives = true;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const trimmed = raw.trim();
    if (inDirectives) {
      const directive = /^#\s*([a-zA-Z]+)\s*=\s*(.+?)\s*$/.exec(trimmed);
      if (directive) {
        directives[directive[1]!.toLowerCase()] = { value: directive[2]!, line: i + 1 };
        continue;
      }
      inDirectives = false;
    }
    if (!trimmed || trimmed.startsWith("#")) continue;
    const start = i;
    let joined = trimmed;
    while (joined.endsWith("\\") && i + 1 < lines.length) {
      joined = joined.slice(0, -1);
      i++;
      const next = lines[i]!.trim();
      if (next.startsWith("#")) continue;
      joined += " " + next;
    }
    const match = /^(\S+)\s*(.*)$/.exec(joined)!;
    instructions.push({ keyword: match[1]!.toUpperCase(), args: match[2]!.trim(), line: start + 1 });
  }

  const globalArgs: Dockerfile["globalArgs"] = {};
  const stages: Stage[] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === "FROM") {
      const parts = instruction.args.split(/\s+/).filter((p) => !p.startsWith("--"));
      const name = parts[1]?.toUpperCase() === "AS" ? parts[2] : undefined;
      stages.push({
        index: stages.length,
        name: name ?? String(stages.length),
        from: parts[0] ?? "",
        line: instruction.line,
        instructions: [],
      });
    } else if (stages.length === 0) {
      if (instruction.keyword === "ARG") {
        const [name, value] = instruction.args.split("=", 2);
        globalArgs[name!.trim()] = {
          value: value?.trim().replace(/^["']|["']$/g, ""),
          line: instruction.line,
        };
      }
    } else stages[stages.length - 1]!.instructions.push(instruction);
  }
  return { directives, globalArgs, stages };
}

/** The `--mount=type=cache,...` options of a RUN instruction. */
export function cacheMounts(instruction: Instruction): CacheMount[] {
  if (instruction.keyword !== "RUN") return [];
  const mounts: CacheMount[] = [];
  for (const flag of instruction.args.matchAll(/--mount=(\S+)/g)) {
    const options: Record<string, string> = {};
    for (const pair of flag[1]!.split(",")) {
      const [key, value = ""] = pair.split("=", 2);
      options[key!] = value;
    }
    if (options.type !== "cache") continue;
    const target = options.target ?? options.dst ?? options.destination;
    if (!target) continue;
    const rest = Object.fromEntries(
      Object.entries(options).filter(
        ([key]) => !["type", "target", "dst", "destination", "id"].includes(key),
      ),
    );
    const id = options.id;
    mounts.push({ id: id ?? target, target, options: rest, line: instruction.line });
  }
  return mounts;
}

/** The command of a RUN with its flags (--mount, --network...) left out. */
export function runCommandText(instruction: Instruction): string {
  return instruction.args.replace(/^(--\S+\s+)+/, "");
}

/** Sources a COPY/ADD takes from the build context (not --from another stage). */
export function contextSources(instruction: Instruction): string[] {
  if (instruction.keyword !== "COPY" && instruction.keyword !== "ADD") return [];
  if (/--from=/.test(instruction.args)) return [];
  const args = instruction.args.replace(/^(--\S+\s+)+/, "");
  let parts: string[];
  if (args.startsWith("[")) {
    try {
      parts = JSON.parse(args) as string[];
    } catch {
      return [];
    }
  } else parts = args.split(/\s+/);
  return parts.slice(0, -1);
}
