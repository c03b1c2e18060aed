/**
 * Pack-time lint of the project's Dockerfiles for what breaks or slows rebuilds on an offline host:
 * frontend images fetched by `# syntax=`, base images by :latest or without a tag, the same base
 * at different versions across Dockerfiles (halves cache hits), ADD from a URL, RUN steps that
 * fetch from the network without a cache mount.
 */
import type { WarningCode } from "../warnings.js";
import path from "node:path";
import { dockerfilePath, dockerfileText } from "../compose/compose-model.js";
import type { ComposeModel } from "../compose/compose-project.js";
import { cacheMounts, parseDockerfile, runCommandText, type Dockerfile } from "../compose/dockerfile.js";

export interface LintFinding {
  code: WarningCode;
  /** file:line, relative to the project. */
  where: string;
  message: string;
}

const NETWORK_COMMANDS =
  /\b(apt-get|apt|apk add|yum|dnf|curl|wget|git clone|pip3? install|npm (ci|install)|yarn( install)?|pnpm install|go (get|mod download)|cargo (build|fetch)|gem install|composer install)\b/;

function substitute(text: string, values: Record<string, string | undefined>): string {
  return text.replace(
    /\$\{?([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}?/g,
    (_, name: string, fallback?: string) => values[name] || fallback || "",
  );
}

function splitImage(ref: string): { repo: string; tag: string | null } {
  const withoutDigest = ref.split("@")[0]!;
  const slash = withoutDigest.lastIndexOf("/");
  const colon = withoutDigest.lastIndexOf(":");
  if (colon > slash) return { repo: withoutDigest.slice(0, colon), tag: withoutDigest.slice(colon + 1) };
  return { repo: withoutDigest, tag: ref.includes("@") ? "@digest" : null };
}

export function lintProject(model: ComposeModel): LintFinding[] {
  const findings: LintFinding[] = [];
  const bases = new Map<string, Array<{ tag: string; where: string }>>();
  const argDefaults = new Map<string, Array<{ value: string; where: string }>>();
  const seen = new Set<string>();

  for (const service of model.services) {
    if (!service.build) continue;
    const absolute = dockerfilePath(service.build);
    const key = absolute ?? `inline:${service.name}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const file = absolute ? path.relative(model.dir, absolute) : `${service.name}'s dockerfile_inline`;
    const text = dockerfileText(service.build);
    if (text === null) continue; // a missing Dockerfile is reported elsewhere; a URL is not read
    const dockerfile: Dockerfile = parseDockerfile(text);
    const syntax = dockerfile.directives.syntax;
    if (syntax) {
      findings.push({
        code: "SYNTAX_DIRECTIVE",
        where: `${file}:${syntax.line}`,
        message: `"# syntax=${syntax.value}" makes BuildKit pull that frontend image on every build; offline rebuilds fail. Remove it (the built-in frontend runs RUN --mount) or load that image on the target`,
      });
    }
    const values: Record<string, string | undefined> = {};
    for (const [name, arg] of Object.entries(dockerfile.globalArgs)) {
      values[name] = arg.value;
      if (arg.value !== undefined) {
        const list = argDefaults.get(name) ?? [];
        list.push({ value: arg.value, where: `${file}:${arg.line}` });
        argDefaults.set(name, list);
      }
    }
    Object.assign(values, service.build.args);
    const stageNames = new Set<string>();
    for (const stage of dockerfile.stages) {
      const from = substitute(stage.from, values);
      if (from && from !== "scratch" && !stageNames.has(from.toLowerCase())) {
        const { repo, tag } = splitImage(from);
        const where = `${file}:${stage.line}`;
        if (tag === null || tag === "latest") {
          findings.push({
            code: "BASE_UNPINNED",
            where,
            message: `FROM ${from}: ${tag ? ":latest" : "no tag"} means a rebuild may get another image than the one cached; pin a version`,
          });
        } else {
          const list = bases.get(repo) ?? [];
          list.push({ tag, where });
          bases.set(repo, list);
        }
      }
      stageNames.add(stage.name.toLowerCase());
      for (const instruction of stage.instructions) {
        const where = `${file}:${instruction.line}`;
        if (instruction.keyword === "ADD" && /(^|\s)https?:\/\//.test(instruction.args)) {
          findings.push({
            code: "ADD_URL",
            where,
            message:
              "ADD from a URL downloads on every rebuild; offline it fails. Put the file in the build context",
          });
        }
        if (instruction.keyword === "RUN" && cacheMounts(instruction).length === 0) {
          const network = NETWORK_COMMANDS.exec(runCommandText(instruction));
          if (network) {
            findings.push({
              code: "NETWORK_STEP",
              where,
              message: `RUN uses ${network[1]}, which needs the network when this step rebuilds; offline it only works while the step stays CACHED (a --mount=type=cache keeps its downloads)`,
            });
          }
        }
      }
    }
  }
  for (const [repo, uses] of bases) {
    const tags = [...new Set(uses.map((u) => u.tag))];
    if (tags.length > 1) {
      findings.push({
        code: "BASE_VERSION_SKEW",
        where: uses.map((u) => u.where).join(", "),
        message: `${repo} is used at ${tags.join(" and ")}: each version is cached apart, which halves cache hits; use one`,
      });
    }
  }
  for (const [name, uses] of argDefaults) {
    const values = [...new Set(uses.map((u) => u.value))];
    if (values.length > 1) {
      findings.push({
        code: "ARG_SKEW",
        where: uses.map((u) => u.where).join(", "),
        message: `ARG ${name} defaults to ${values.join(" and ")} in different Dockerfiles: images built from them share less cache; use one value`,
      });
    }
  }
  return findings;
}
