/**
 * What sealift reads of a Dockerfile: instructions with their line numbers, stages, `RUN
 * --mount=type=cache` options exactly as written, and the COPY sources each stage reads from its
 * context. BuildKit is the authority on the syntax; the parsing is dockerfile-ast's.
 */
import {
  DockerfileParser,
  type Arg,
  type Copy,
  type From,
  type Instruction as AstInstruction,
  type Run,
} from "dockerfile-ast";

export interface Instruction {
  keyword: string;
  /** The arguments without the flags, continuations joined (a heredoc's body on lines of its own). */
  args: string;
  /**
   * Flags as written: --mount=..., --from=..., --network=...; a flag's comma-separated key=value
   * options (--mount's type, id, target...) as dockerfile-ast splits them.
   */
  flags: Array<{ name: string; value: string; options: Record<string, string> }>;
  /**
   * COPY and ADD: their sources and destination as BuildKit reads them (exec form as JSON, else the
   * words of the instruction up to any heredoc's body); null for other instructions.
   */
  paths: string[] | null;
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
  /** It has an `AS name` (only then can a build target it). */
  named: boolean;
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

/**
 * The Dockerfile as BuildKit reads it, by dockerfile-ast (a parser made for Dockerfiles, kept by the
 * author of the Docker language server): parser directives (`# escape=` changes the continuation
 * character), continuations, heredocs (`RUN <<EOF` ... `EOF` is one instruction; a `FROM` inside a
 * heredoc is text, not a stage), flags (`--mount`, `--from`, `--platform`) apart from arguments.
 */
export function parseDockerfile(text: string): Dockerfile {
  const parsed = DockerfileParser.parse(text);
  const directives: Dockerfile["directives"] = {};
  for (const d of parsed.getDirectives()) {
    const name = d.getName()?.toLowerCase();
    const value = d.getValue();
    if (name && value !== null) directives[name] = { value, line: d.getRange().start.line + 1 };
  }
  const globalArgs: Dockerfile["globalArgs"] = {};
  const stages: Stage[] = [];
  for (const raw of parsed.getInstructions()) {
    const keyword = raw.getKeyword().toUpperCase();
    const line = raw.getRange().start.line + 1;
    if (keyword === "FROM") {
      const from = raw as From;
      const named = from.getBuildStage();
      stages.push({
        index: stages.length,
        name: named ?? String(stages.length),
        named: !!named,
        from: from.getImage() ?? "",
        line,
        instructions: [],
      });
      continue;
    }
    const flags = "getFlags" in raw ? (raw as Run).getFlags() : [];
    const instruction: Instruction = {
      keyword,
      args: raw.getArgumentsContent() ?? "",
      flags: flags.map((f) => ({
        name: f.getName(),
        value: f.getValue() ?? "",
        options: Object.fromEntries(f.getOptions().map((o) => [o.getName(), o.getValue() ?? ""])),
      })),
      paths: keyword === "COPY" || keyword === "ADD" ? copyPaths(raw as Copy) : null,
      line,
    };
    if (stages.length) stages[stages.length - 1]!.instructions.push(instruction);
    else if (keyword === "ARG") {
      for (const property of (raw as Arg).getProperties()) {
        const name = property.getName();
        if (name) globalArgs[name] = { value: property.getValue() ?? undefined, line };
      }
    }
  }
  return { directives, globalArgs, stages };
}

/**
 * A COPY's or ADD's words: the exec form is JSON (BuildKit parses it so; dockerfile-ast's own reading
 * of it splits at spaces inside the strings), the shell form the arguments dockerfile-ast found,
 * continuations joined, up to the first heredoc's body (its lines are content, not paths).
 */
function copyPaths(copy: Copy): string[] {
  const text = (copy.getArgumentsContent() ?? "").trim();
  if (text.startsWith("[")) {
    try {
      const parsed: unknown = JSON.parse(text);
      if (Array.isArray(parsed) && parsed.every((p) => typeof p === "string")) return parsed as string[];
    } catch {
      // not JSON: BuildKit reads it as the shell form too
    }
  }
  const body = copy.getHeredocs()[0]?.getContentRange()?.start.line;
  return (copy as AstInstruction)
    .getArguments()
    .filter((a) => body === undefined || a.getRange().start.line < body)
    .map((a) => a.getValue());
}

/** What a built service's Dockerfile gives the build cache: the stages to cache and the cache mounts. */
export interface DockerfileCache {
  /**
   * The intermediate stages before the one built (the target, else the last), that can be built
   * alone: BuildKit's --target takes a stage's name, so a stage without `AS name` is not among them.
   */
  stages: Stage[];
  /** Unnamed intermediate stages (their layers travel only inside the images built from them). */
  unnamed: Stage[];
  /** Every RUN --mount=type=cache of every stage, with the stage it is in. */
  mounts: Array<{ mount: CacheMount; stage: Stage }>;
}

/** The stages and cache mounts of one build, derived here once for plan and pack alike. */
export function dockerfileCache(text: string, target: string | null): DockerfileCache {
  const dockerfile = parseDockerfile(text);
  const last = target
    ? dockerfile.stages.findIndex((s) => s.name.toLowerCase() === target.toLowerCase())
    : dockerfile.stages.length - 1;
  const before = dockerfile.stages.slice(0, Math.max(0, last));
  return {
    stages: before.filter((s) => s.named),
    unnamed: before.filter((s) => !s.named),
    mounts: dockerfile.stages.flatMap((stage) =>
      stage.instructions.flatMap((i) => cacheMounts(i).map((mount) => ({ mount, stage }))),
    ),
  };
}

/** The `--mount=type=cache,...` options of a RUN instruction. */
export function cacheMounts(instruction: Instruction): CacheMount[] {
  if (instruction.keyword !== "RUN") return [];
  const mounts: CacheMount[] = [];
  for (const { options } of instruction.flags.filter((f) => f.name === "mount")) {
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

/** The command of a RUN, its flags (--mount, --network...) left out (with any heredoc's body). */
export function runCommandText(instruction: Instruction): string {
  return instruction.args;
}

/**
 * Sources a COPY/ADD takes from the build context (not --from another stage, not a heredoc): the
 * paths but the destination.
 */
export function contextSources(instruction: Instruction): string[] {
  if (!instruction.paths || instruction.flags.some((f) => f.name === "from")) return [];
  return instruction.paths.slice(0, -1).filter((p) => !p.startsWith("<<"));
}

/** The mount options to write in a helper Dockerfile: as written, less what only made sense there. */
export function mountSpec(mount: { id: string; options: Record<string, string> }, target: string): string {
  const keep = Object.entries(mount.options).filter(
    ([key]) => key !== "from" && key !== "source" && key !== "src",
  );
  return [
    "type=cache",
    `id=${mount.id}`,
    `target=${target}`,
    ...keep.map(([k, v]) => (v ? `${k}=${v}` : k)),
  ].join(",");
}
