/**
 * The preflight step: the host checks, the questions, the checks that need the answers (the project
 * as this host's compose reads it), the confirmation. Changes nothing on the host.
 */
import { readJournal } from "../journal.js";
import { existsSync, promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { COMPOSE_DIR, ENV_TEMPLATE_PATH, OVERRIDE_FILE } from "../../bundle/layout.js";
import { type VerifiedBundle } from "../../bundle/verify.js";
import { readDotEnv, resolveComposeProject, type ComposeModel } from "../../compose/compose-project.js";
import { envFileText, envToRecord, formatEnvFile, parseEnvFile } from "../../compose/env-file.js";
import { requireCompose } from "../../docker/compose.js";
import { detectDockerHost, type DockerHost } from "../../docker/docker-host.js";
import { SealiftError } from "../../errors.js";
import { resolveAnswers, type AnswerInputs, type Answers } from "../answers.js";
import { layersLeftToBase, planImages } from "../image-loader.js";
import type { Manifest } from "../../bundle/manifest.js";
import { localLayerChains } from "../../docker/docker.js";
import {
  dataRootNeed,
  diskCheck,
  enforce,
  hostAccessChecks,
  hostChecks,
  shippedServiceChecks,
  portChecks,
  writableCheck,
} from "../preflight.js";
import { planData } from "../data.js";
import { checkFolderFree } from "../folder-lock.js";
import { readRecordQuietly, runningAsInstalled } from "./installed-state.js";
import type { InstallRecord } from "../install-record.js";
import { type InstallOptions, type InstallPlan } from "./types.js";

/** A delta installs only on a host that has what it leaves to its base release. */
export async function checkBaseRelease(
  host: DockerHost,
  manifest: Manifest,
  signal: AbortSignal,
): Promise<void> {
  const base = manifest.base!;
  const release = `release ${base.release} of ${base.project}`;
  // On either store: the containerd store imports the layers left out from its content store.
  const missing = layersLeftToBase(manifest, await localLayerChains(host, signal));
  if (missing.length)
    throw new SealiftError(
      "BASE_MISSING",
      `this is an update bundle on top of ${release}; this host lacks ${missing.length} of the layers it leaves to that release`,
      {
        hint: `install ${release} first (or a later release built on it), then this update; or install the complete bundle of release ${manifest.project.release}`,
        details: missing.slice(0, 5).map((d) => `missing layer ${d.slice(7, 19)}`),
      },
    );
}

/**
 * An old release, however validly signed, must not quietly replace a newer one (a replayed bundle
 * would bring back what the newer one fixed): DOWNGRADE unless the operator says so. `install
 * rollback` is the sanctioned way back after an upgrade.
 */
export function refuseDowngrade(
  manifest: Manifest,
  manifestDigest: string,
  record: InstallRecord | null,
  allowed: boolean,
): void {
  if (!record?.packedAt || record.manifestSha256 === manifestDigest || allowed) return;
  if (Date.parse(manifest.createdAt) >= Date.parse(record.packedAt)) return;
  throw new SealiftError(
    "DOWNGRADE",
    `release ${manifest.project.release} (packed ${manifest.createdAt}) is older than release ${record.release} installed here (packed ${record.packedAt})`,
    {
      hint: `to go back after an upgrade run \`install rollback\`; to install the older release anyway, add --allow-downgrade`,
    },
  );
}

export function existingEnv(dir: string): Record<string, string> | null {
  return existsSync(path.join(dir, ".env")) ? readDotEnv(dir) : null;
}

/**
 * The project as this host's compose reads it with the operator's answers, before anything on the
 * host changes: the bundle's compose files (and the files they include), its pins and a `.env` of
 * the answers in a private temporary folder, the build contexts as empty folders (v1's compose
 * wants them to exist). What this compose cannot read is a preflight failure with its own words.
 */
export async function bundleModel(
  host: DockerHost,
  verified: VerifiedBundle,
  dir: string,
  envText: string,
  signal: AbortSignal,
): Promise<ComposeModel> {
  const project = verified.manifest.project;
  const tool = requireCompose(host);
  const temporary = await fs.mkdtemp(path.join(os.tmpdir(), "sealift-compose-"));
  // One level down: "../x" beside the project resolves inside the temporary folder.
  const scratch = path.join(temporary, "project");
  try {
    await fs.mkdir(scratch);
    for (const file of [...project.composeFiles, ...project.composeInputs, OVERRIDE_FILE]) {
      const content = verified.composeFiles.get(`${COMPOSE_DIR}${file}`);
      if (!content) continue;
      await fs.mkdir(path.dirname(path.join(scratch, file)), { recursive: true });
      await fs.writeFile(path.join(scratch, file), content);
    }
    for (const context of project.buildContexts)
      await fs.mkdir(path.join(scratch, context), { recursive: true });
    await fs.writeFile(path.join(scratch, ".env"), envText);
    const model = await resolveComposeProject(tool, scratch, {
      files: [...project.composeFiles, OVERRIDE_FILE],
      profiles: project.profiles,
      // The name compose runs it under (volume and network names are made from it).
      env: { COMPOSE_PROJECT_NAME: project.name },
      signal,
    });
    return { ...model, dir, name: project.name };
  } catch (error) {
    if (!(error instanceof SealiftError) || error.code !== "COMPOSE_INVALID") throw error;
    const said = (text: string) => text.split(scratch).join(dir);
    throw new SealiftError("PREFLIGHT_FAILED", said(error.message), {
      hint:
        tool.flavour === "v1"
          ? "the project uses what only Compose v2 reads (include:, !reset, ...): install the Docker Compose v2 plugin on this host, then run the installer again"
          : "check the answers given (--set) against what compose says, then run the installer again",
      details: error.details.map(said),
    });
  } finally {
    await fs.rm(temporary, { recursive: true, force: true });
  }
}

/**
 * The .env the install leaves: on an upgrade that keeps it, the operator's file with the settings it
 * lacks added; else the shipped template's own lines where a setting keeps its default, literal
 * lines for the answers (see compose/env-file.ts). Preflight reads the project with the same text.
 */
export async function envToInstall(dir: string, answers: Answers, verified: VerifiedBundle): Promise<string> {
  const { project } = verified.manifest;
  const file = path.join(dir, ".env");
  const values = project.variables.map((v) => ({ name: v.name, value: answers.env[v.name] ?? v.default }));
  if (answers.keepEnv && existsSync(file)) {
    let text = await fs.readFile(file, "utf8");
    const current = envToRecord(parseEnvFile(text));
    // A setting given now (--set, the answers file) replaces the kept line; the others stay as written.
    const changed = Object.entries(answers.given).filter(
      ([name, value]) => name in current && current[name] !== value,
    );
    for (const [name] of changed)
      text = text.replace(new RegExp(`^[ \\t]*(export[ \\t]+)?${name}[ \\t]*=.*(\\r?\\n|$)`, "gm"), "");
    const added = [
      ...changed.map(([name, value]) => ({ name, value })),
      ...values.filter((v) => !(v.name in current)),
    ];
    return added.length
      ? `${text}${text.endsWith("\n") || !text ? "" : "\n"}${formatEnvFile(added, `set by sealift for release ${project.release}`)}`
      : text;
  }
  const template = verified.composeFiles.get(ENV_TEMPLATE_PATH)?.toString("utf8") ?? null;
  return envFileText(
    template,
    values,
    `settings of ${project.name}, written by sealift for release ${project.release}`,
  );
}

/**
 * The host checks, the questions, the checks that need the answers (the project as this host's
 * compose reads it: ports, host access), the confirmation. Changes nothing on the host.
 */
export async function preflight(
  verified: VerifiedBundle,
  options: InstallOptions,
  inputs: AnswerInputs,
): Promise<InstallPlan> {
  const { reporter, signal } = options;
  const manifest = verified.manifest;
  reporter.info(
    `\n${manifest.project.name} release ${manifest.project.release} (${manifest.services.length} services)`,
  );
  const host = await detectDockerHost(signal);
  if (manifest.base) await checkBaseRelease(host, manifest, signal);
  const images = await planImages(host, manifest, signal);
  const checks = hostChecks(host, manifest);
  const dataRoot = dataRootNeed(host, manifest, images.missing.length > 0);
  checks.push(
    await diskCheck("Docker data root", host.dockerRootDir, dataRoot.bytes, dataRoot.why, dataRoot.how),
  );
  // A host that cannot take the bundle is said before any question; else the questions come first
  // and the checks are drawn once, aligned, when the ones that need the answers are known too.
  if (checks.some((c) => c.status === "fail" && !(options.force && c.overridable))) {
    options.present.checks(checks);
    enforce(checks, options.force);
  }

  const answers = await resolveAnswers(
    options,
    {
      manifest,
      hasCache: !!manifest.cache && manifest.cache.images.length + manifest.cache.mounts.length > 0,
      existingEnv,
      io: options.io,
      self: options.self,
    },
    inputs,
  );
  checkFolderFree(answers.dir);
  const envText = await envToInstall(answers.dir, answers, verified);
  const record = readRecordQuietly(answers.dir);
  refuseDowngrade(manifest, verified.manifestDigest, record, !!options.allowDowngrade);
  const asInstalled = await runningAsInstalled(host, verified, record, answers, envText, images, signal);
  // Installed and running as it would be: the checks on the project passed when it was, its
  // containers hold its ports. Else the project as this host's compose reads it, checked.
  const model = asInstalled ? null : await bundleModel(host, verified, answers.dir, envText, signal);
  const data = await planData(host, manifest, answers.dir, record, model, signal);
  const planChecks = [
    ...(model ? hostAccessChecks(manifest, model.services) : []),
    ...(model ? shippedServiceChecks(manifest, model.services) : []),
    await writableCheck(answers.dir),
    await diskCheck("Install dir space", answers.dir, manifest.requirements.installDirBytes),
    ...(model
      ? await portChecks(
          host,
          manifest.project.name,
          model.services.flatMap((s) => s.ports),
        )
      : []),
  ];
  options.present.checks([...checks, ...planChecks]);
  enforce([...checks, ...planChecks], options.force);

  if (!options.yes && !options.answersFile) {
    if (!(await options.present.confirm({ manifest, answers, images, data, asInstalled: !!asInstalled }))) {
      throw new SealiftError("CANCELLED", "not confirmed; nothing was installed", {
        hint: "run the installer again when ready",
      });
    }
  }
  if (asInstalled)
    reporter.info(
      `release ${manifest.project.release} is installed in ${answers.dir} and running with these settings: checking its files against the bundle`,
    );
  return { host, images, answers, envText, data, record, asInstalled, interrupted: readJournal(answers.dir) };
}
