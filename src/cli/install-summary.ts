/**
 * What the installer prints for a person: the preflight's checks table, what an install will do
 * (before the operator says yes), and when it ends the summary and the services table.
 */
import { keptInstallerPath } from "../installer/install-record.js";
import type { InstallIntent, InstallResult } from "../installer/steps/types.js";
import type { Check } from "../installer/preflight.js";
import { selfCommand, type InstallerSelf } from "../installer/self.js";
import { existsSync } from "node:fs";
import { type ContainerState } from "../docker/docker.js";
import { formatBytes, formatDuration, formatTable } from "../util/format.js";

export function serviceRows(containers: ContainerState[]): string[] {
  return formatTable([
    ["SERVICE", "STATE", "ANSWERS AT"],
    ...containers
      .sort((a, b) => a.service.localeCompare(b.service))
      .map((c) => [
        c.service,
        `${c.status}${c.health ? ` (${c.health})` : ""}`,
        [
          ...new Set(
            c.ports.map(
              (p) =>
                `http://${["0.0.0.0", "::", ""].includes(p.hostIp) ? "127.0.0.1" : p.hostIp}:${p.hostPort}`,
            ),
          ),
        ].join(" ") || "-",
      ]),
  ]);
}

export function installSummary(result: InstallResult, installer: InstallerSelf): string {
  const m = result.verified.manifest;
  const i = result.installed;
  if (result.check)
    return `ok: ${m.project.name} release ${m.project.release}: verified, preflight passed; an install ${result.check.changes ? "would change this host" : "would change nothing (installed and running as the bundle has it)"}; nothing was changed\n`;
  if (!i) {
    return `ok: ${m.project.name} release ${m.project.release}: ${result.verified.filesChecked} files verified (${formatBytes(result.verified.bytesChecked)}); nothing was changed\n`;
  }
  // The copy the install keeps, by its absolute path: the lines work from any folder, tomorrow too.
  const kept = keptInstallerPath(i.dir);
  const self = existsSync(kept) ? kept : selfCommand(installer);
  return (
    [
      i.unchanged
        ? `${m.project.name} release ${i.release} was already installed in ${i.dir} and is healthy; nothing changed (checked in ${formatDuration(i.durationMs)})`
        : `${m.project.name} release ${i.release} is installed in ${i.dir} and healthy (${formatDuration(i.durationMs)})`,
      ...serviceRows(i.containers).map((l) => `  ${l}`),
      `record:    ${i.record}`,
      `status:    ${self} status --dir ${i.dir}`,
      `rebuild:   ${self} rebuild --dir ${i.dir}`,
      `uninstall: ${self} uninstall --dir ${i.dir}`,
    ].join("\n") + "\n"
  );
}

/** The preflight's checks as one aligned table (host checks and plan checks share its columns). */
export function checksTable(checks: readonly Check[]): string[] {
  const mark = { ok: "ok", warn: "WARN", fail: "FAIL" } as const;
  // A fixed first column keeps the host checks and the plan checks (printed later) aligned.
  return formatTable([
    ["CHECK".padEnd(18), "RESULT", "DETAIL"],
    ...checks.map((c) => [c.name.padEnd(18), mark[c.status], c.detail]),
  ]);
}

/** What the install will do, in words an operator reads at a glance before saying yes. */
export function confirmationText({ manifest, answers, images, data, asInstalled }: InstallIntent): string {
  const settings = Object.entries(answers.env).map(
    ([k, v]) => `${k}=${manifest.project.variables.find((x) => x.name === k)?.secret ? "********" : v}`,
  );
  const dataFiles = (manifest.data?.files ?? []).filter((f) => data.files.has(`data/files/${f.path}`));
  return [
    "",
    `Install ${manifest.project.name} ${manifest.project.release} into ${answers.dir}`,
    images.missing.length
      ? `  images:   load ${images.missing.length} (${images.missing.join(", ")})${images.present.length ? `; ${images.present.length} already here` : ""}`
      : `  images:   all ${images.present.length} already here, nothing to load`,
    ...(dataFiles.length
      ? [
          `  data:     place ${dataFiles.length} files (${formatBytes(dataFiles.reduce((n, f) => n + f.size, 0))})`,
        ]
      : []),
    ...(data.volumes.size ? [`  volumes:  fill ${data.volumes.size} that are missing or empty here`] : []),
    ...(asInstalled
      ? [
          "  already installed and running with these settings: nothing changes where its files match the bundle's",
        ]
      : []),
    `  settings: ${settings.length ? settings.join(" ") : "none"}`,
  ].join("\n");
}
