/** Which installer binary a bundle for a platform ships. */
import { existsSync } from "node:fs";
import path from "node:path";
import { SealiftError } from "../errors.js";
import { packageRoot } from "../util/package-root.js";

export const INSTALLER_ARCH: Record<string, string> = { amd64: "x64", arm64: "arm64" };

export function installerFor(arch: string, explicit?: string): string {
  if (explicit) {
    if (!existsSync(explicit)) {
      throw new SealiftError("INSTALLER_MISSING", `installer ${explicit} does not exist`, {
        hint: "check --installer",
      });
    }
    return explicit;
  }
  const nodeArch = INSTALLER_ARCH[arch];
  if (!nodeArch) {
    throw new SealiftError("INSTALLER_MISSING", `sealift has no installer for linux/${arch}`, {
      hint: "installers exist for linux/amd64 and linux/arm64",
    });
  }
  const file = path.join(packageRoot(), "build", `sealift-install-linux-${nodeArch}`);
  if (!existsSync(file)) {
    throw new SealiftError("INSTALLER_MISSING", `the installer for linux/${arch} is not built (${file})`, {
      hint: "run `npm run build` in the sealift folder first; a bundle without its installer cannot be installed",
    });
  }
  return file;
}
