/** What the installer prints for a person when an install ends: the summary and the services table. */
import { keptInstallerPath } from "../installer/install-record.js";
import type { InstallResult } from "../installer/steps/types.js";
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
