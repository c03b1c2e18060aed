/**
 * `sealift plan`: what `pack` would do with a project, without building or saving anything. The
 * model is the one pack uses (compose's own resolution); the plan adds what pack derives from it:
 * what is built, saved and shipped, the build cache's stages and mounts, the lint and host access.
 */
import path from "node:path";
import { dockerfileText } from "../compose/compose-model.js";
import {
  composeInputs,
  projectVariables,
  describeNotOffered,
  variablesNotOffered,
  resolveComposeProject,
  type ComposeModel,
} from "../compose/compose-project.js";
import { dockerfileCache } from "../compose/dockerfile.js";
import type { ComposeTool } from "../docker/docker-host.js";
import { lintProject } from "./lint.js";
import { describeUnshipped, selectData } from "./data.js";
import { inspectGit } from "./source.js";
import { formatBytes } from "../util/format.js";
import type { Plan } from "./plan-json.js";

export type { Plan };

export async function plan(
  tool: ComposeTool,
  projectDir: string,
  options: {
    files?: string[];
    profiles?: string[];
    name?: string;
    /** As pack's --data and --volume. */
    data?: string[];
    volumes?: string[];
    /** The release engineer's environment, which compose reads as in their shell. */
    environment?: Readonly<Record<string, string | undefined>>;
    signal?: AbortSignal;
  },
): Promise<Plan> {
  const resolveOptions = {
    files: options.files ?? [],
    profiles: options.profiles ?? [],
    ...(options.environment ? { environment: options.environment } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  };
  const model: ComposeModel = await resolveComposeProject(tool, projectDir, resolveOptions);
  const variables = await projectVariables(tool, projectDir, resolveOptions);
  const stages: Plan["cache"]["stages"] = [];
  const mounts = new Set<string>();
  for (const service of model.services) {
    const text = service.build && dockerfileText(service.build);
    if (!service.build || !text) continue;
    const cache = dockerfileCache(text, service.build.target);
    for (const stage of cache.stages) stages.push({ service: service.name, stage: stage.name });
    for (const { mount } of cache.mounts) mounts.add(mount.id);
  }
  const git = await inspectGit(model.dir, options.signal);
  const data = await selectData(
    model,
    {
      data: options.data ?? [],
      volumes: options.volumes ?? [],
      inGit: git.commit !== null || git.changedFiles.includes("(no commit yet)"),
    },
    () => undefined,
    options.signal,
  );
  return {
    project: options.name ?? model.name,
    dir: model.dir,
    files: model.files,
    composeInputs: composeInputs(model.dir, model.files),
    profiles: model.profiles,
    compose: { flavour: tool.flavour, version: tool.version },
    services: model.services.map((s) => ({
      name: s.name,
      image: s.image,
      build: s.build
        ? {
            context: s.build.context,
            dockerfile: s.build.dockerfile,
            dockerfileInline: s.build.dockerfileInline,
            args: s.build.args,
            target: s.build.target,
          }
        : null,
      ports: s.ports,
      volumes: s.volumes,
      hostAccess: s.hostAccess,
      devices: s.devices,
    })),
    data: {
      files: data.files.map((f) => ({ path: f.path, size: f.size, reason: f.reason })),
      bytes: data.files.reduce((sum, f) => sum + f.size, 0),
      volumes: data.volumes,
      unshipped: data.unshipped,
    },
    build: model.services.filter((s) => s.build).map((s) => s.name),
    save: model.services.filter((s) => !s.build && s.image).map((s) => s.image!),
    cache: { stages, mounts: [...mounts] },
    variables,
    settingsNotOffered:
      tool.flavour === "v1"
        ? variablesNotOffered(
            model.dir,
            [...model.files, ...composeInputs(model.dir, model.files)],
            variables,
          )
        : [],
    lint: lintProject(model),
  };
}

/** The plan for a person: what pack would build, save and ship, and what to look at first. */
export function describePlan(p: Plan): string {
  const lines = [
    `project ${p.project} in ${p.dir} (compose ${p.compose.flavour} ${p.compose.version})`,
    `  files: ${p.files.join(", ")}${p.composeInputs.length ? `; also read: ${p.composeInputs.join(", ")}` : ""}`,
    `  profiles: ${p.profiles.length ? p.profiles.join(", ") : "(none: services without profiles)"}`,
    "services:",
  ];
  for (const s of p.services) {
    const what = s.build
      ? `build ${path.relative(p.dir, s.build.context) || "."}${s.build.dockerfileInline !== null ? " (dockerfile_inline)" : s.build.dockerfile && s.build.dockerfile !== "Dockerfile" ? ` -f ${s.build.dockerfile}` : ""}${s.build.target ? ` --target ${s.build.target}` : ""}`
      : `image ${s.image}`;
    lines.push(`  ${s.name}: ${what}`);
    if (s.ports.length)
      lines.push(
        `    ports: ${s.ports.map((x) => `${x.hostIp ? `${x.hostIp}:` : ""}${x.published}->${x.target}/${x.protocol}`).join(", ")}`,
      );
    if (s.volumes.length)
      lines.push(
        `    volumes: ${s.volumes.map((v) => `${v.type} ${v.source || "(anonymous)"} -> ${v.target}`).join(", ")}`,
      );
    for (const access of s.hostAccess) lines.push(`    host access: ${access}`);
    for (const d of s.devices)
      lines.push(
        `    devices: ${[d.driver || "any driver", d.count ? `count ${d.count}` : "", d.capabilities.length ? `capabilities ${d.capabilities.join(",")}` : "", d.deviceIds.length ? `ids ${d.deviceIds.join(",")}` : ""].filter(Boolean).join(", ")} (the installer checks the host has them)`,
      );
  }
  lines.push(
    `pack would build: ${p.build.join(", ") || "nothing"}`,
    `pack would save as they are: ${p.save.join(", ") || "nothing"}`,
    `build cache: ${p.cache.stages.map((s) => `${s.service}/${s.stage}`).join(", ") || "no intermediate stages"}; cache mounts: ${p.cache.mounts.join(", ") || "none"}`,
    `data not in git: ${p.data.files.length ? `${p.data.files.length} files, ${formatBytes(p.data.bytes)} (${summariseData(p.data.files)})` : "none"}; volumes with their content: ${p.data.volumes.map((v) => `${v.key} (${v.engineName})`).join(", ") || "none"}`,
    `settings the installer asks for: ${p.variables.map((v) => `${v.name}${v.default ? `=${v.secret ? "********" : v.default}` : ""}`).join(" ") || "none"}`,
  );
  if (p.settingsNotOffered.length)
    lines.push(`warning[SETTINGS_NOT_LISTED] ${describeNotOffered(p.settingsNotOffered)}`);
  for (const u of p.data.unshipped) lines.push(`warning[DATA_NOT_SHIPPED] ${describeUnshipped(u)}`);
  for (const f of p.lint) lines.push(`warning[${f.code}] ${f.where}: ${f.message}`);
  return lines.join("\n") + "\n";
}

/** The data files by top folder, with sizes: "models/ 3 files 64.0 MiB, weights.bin 1.0 KiB". */
function summariseData(files: Plan["data"]["files"]): string {
  const groups = new Map<string, { files: number; bytes: number }>();
  for (const f of files) {
    const top = f.path.includes("/") ? `${f.path.split("/")[0]}/` : f.path;
    const group = groups.get(top) ?? { files: 0, bytes: 0 };
    group.files++;
    group.bytes += f.size;
    groups.set(top, group);
  }
  return [...groups]
    .map(
      ([top, g]) =>
        `${top} ${g.files > 1 || top.endsWith("/") ? `${g.files} files ` : ""}${formatBytes(g.bytes)}`,
    )
    .join(", ");
}
