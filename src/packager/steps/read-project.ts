/**
 * The read step: everything that can refuse the project before the first (long) build: compose's
 * model, the settings, git, lint, the data, the platform, the base release.
 */
import { promises as fs } from "node:fs";
import path from "node:path";
import {
  composeInputs,
  describeNotOffered,
  variablesNotOffered,
  normaliseProjectName,
  projectVariables,
  resolveComposeProject,
  type ComposeModel,
} from "../../compose/compose-project.js";
import { requireCompose } from "../../docker/compose.js";
import { detectDockerHost, type DockerHost } from "../../docker/docker-host.js";
import { SealiftError } from "../../errors.js";
import { checkDockerfiles, targetArchitecture } from "../images.js";
import { lintProject } from "../lint.js";
import { checkBase, readBase } from "../delta.js";
import { loadPrivateKey } from "../../bundle/signature.js";
import { inspectGit, requireClean } from "../source.js";
import { describeUnshipped, selectData, type DataSelection } from "../data.js";
import { installerFor } from "../installer-binary.js";
import { type PackOptions, type Project } from "./types.js";

export function releaseId(now: Date, commit: string | null, dirty: boolean): string {
  const stamp = now
    .toISOString()
    .replace(/[-:T]/g, "")
    .slice(0, commit ? 8 : 14);
  return commit ? `${stamp}-${commit.slice(0, 7)}${dirty ? "-dirty" : ""}` : stamp;
}

export async function checkOutDir(outDir: string): Promise<void> {
  try {
    await fs.mkdir(outDir, { recursive: true });
    await fs.access(outDir, fs.constants.W_OK);
  } catch (error) {
    throw new SealiftError("OUT_NOT_WRITABLE", `cannot write to the output folder ${outDir}`, {
      hint: "choose another folder with --out, or fix its permissions",
      cause: error,
    });
  }
}

/** PLATFORMS sealift has installers for. */
export const PLATFORMS = ["linux/amd64", "linux/arm64"];

/** The host with every build made for `platform` (pack --platform); another CPU needs BuildKit. */
export function withPlatform(host: DockerHost, platform: string | undefined): DockerHost {
  if (!platform) return host;
  if (!PLATFORMS.includes(platform))
    throw new SealiftError("USAGE", `--platform ${platform} is not one sealift ships an installer for`, {
      hint: `use ${PLATFORMS.join(" or ")}`,
    });
  if (host.builder === "legacy" && platform !== `linux/${host.architecture}`)
    throw new SealiftError(
      "PLATFORM_MISMATCH",
      `building for ${platform} needs BuildKit, which ${host.docker} cannot drive`,
      {
        hint: "install the buildx plugin (or use a docker client of 23.0 or newer against this engine) and pack again",
      },
    );
  return { ...host, buildPlatform: platform };
}

/** Everything that can refuse the project, before the first (long) build. */
export async function readProject(options: PackOptions): Promise<Project> {
  const { reporter, signal } = options;
  const now = options.now ?? new Date();
  const projectDir = path.resolve(options.projectDir);
  const host = withPlatform(await detectDockerHost(signal), options.platform);
  const compose = requireCompose(host);
  const resolveOptions = {
    files: options.composeFiles ?? [],
    profiles: options.profiles ?? [],
    ...(options.environment ? { environment: options.environment } : {}),
    signal,
  };
  const model = await resolveComposeProject(compose, projectDir, resolveOptions);
  const variables = await projectVariables(compose, projectDir, resolveOptions);
  const name = options.name ? normaliseProjectName(options.name) : model.name;
  if (!name)
    throw new SealiftError("USAGE", `"${options.name}" is not a usable bundle name`, {
      hint: "use letters, digits, - and _",
    });
  checkDockerfiles(model);
  const composeReads = composeInputs(projectDir, model.files);
  if (compose.flavour === "v1") {
    const missing = variablesNotOffered(projectDir, [...model.files, ...composeReads], variables);
    if (missing.length) reporter.warn("SETTINGS_NOT_LISTED", describeNotOffered(missing));
  }
  const git = await inspectGit(projectDir, signal);
  requireClean(projectDir, git, options.allowDirty);
  if (git.dirty)
    reporter.warn(
      "DIRTY_TREE",
      git.commit === null && !git.changedFiles.length
        ? "packing a folder that is not in git (as it is); the manifest records it"
        : `packing uncommitted changes (${git.changedFiles.length} files); the manifest records it`,
    );
  for (const v of variables) {
    if (v.secret && v.default) {
      reporter.warn(
        "SECRET_IN_TEMPLATE",
        `.env sets ${v.name}; its value travels in the bundle as the default the installer offers`,
      );
    }
  }
  const data = await readData(model, git, options);
  const signer = options.sign ? loadPrivateKey(options.sign) : undefined;
  for (const service of model.services) {
    for (const access of service.hostAccess)
      reporter.warn(
        "HOST_ACCESS",
        `service ${service.name} ${access}; the installer will show it to the operator`,
      );
  }
  const findings = lintProject(model);
  for (const f of findings) reporter.warn(f.code, `${f.where}: ${f.message}`);
  await checkOutDir(path.resolve(options.outDir));
  installerFor(targetArchitecture(host), options.installer); // fail before the long builds
  const base = options.base ? await readBase(options.base, reporter, signal) : undefined;
  if (base) checkBase(base, name, targetArchitecture(host));
  const release = releaseId(now, git.commit, git.dirty);
  return {
    host,
    dir: projectDir,
    model,
    variables,
    composeReads,
    name,
    git,
    signer,
    base,
    data,
    release,
    now,
  };
}

/** The data that travels, and a warning for bind-mount data that would not (an error with --strict: strict.ts). */
export async function readData(
  model: ComposeModel,
  git: Project["git"],
  options: PackOptions,
): Promise<DataSelection> {
  const { reporter, signal } = options;
  const data = await selectData(
    model,
    {
      data: options.data ?? [],
      volumes: options.volumes ?? [],
      inGit: git.commit !== null || git.changedFiles.includes("(no commit yet)"),
    },
    (code, message) => reporter.warn(code, message),
    signal,
  );
  for (const u of data.unshipped) reporter.warn("DATA_NOT_SHIPPED", describeUnshipped(u));
  const lfs = data.files.filter((f) => f.reason === "lfs");
  if (lfs.length)
    reporter.info(`data: ${lfs.length} Git LFS file(s) travel with their content, not their pointers`);
  return data;
}
