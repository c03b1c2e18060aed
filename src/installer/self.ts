/**
 * The running installer's own executable, handed in by the command layer (the core never reads
 * process.execPath or process.cwd()): where it sits decides the default bundle and install folder,
 * the copy an install keeps, and how hints name it.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { RECORD_DIR, RECORD_FILE } from "./install-record.js";

export interface InstallerSelf {
  /** The compiled installer's path; null when this is not one (sealift-install from the npm package, tests). */
  executable: string | null;
  /** The folder the operator ran it from (hints name the installer relative to it). */
  cwd: string;
}

/** How the operator calls this installer again (for hints): ./install, or its path. */
export function selfCommand(self: InstallerSelf): string {
  if (!self.executable) return "sealift-install";
  const rel = path.relative(self.cwd, self.executable);
  // "./tmp/usb/install", not "tmp/usb/install": a path that reads as one to run.
  return rel.startsWith(".") ? rel : `./${rel}`;
}

/** The folder the installer sits in, when it is the compiled one (an extracted bundle, DIR/.sealift). */
export function selfFolder(self: InstallerSelf): string | null {
  return self.executable ? path.dirname(self.executable) : null;
}

/** DIR when this installer is the copy kept in DIR/.sealift (updates run from there). */
export function keptInstallerDir(self: InstallerSelf): string | undefined {
  const beside = selfFolder(self);
  return beside && path.basename(beside) === RECORD_DIR && existsSync(path.join(beside, RECORD_FILE))
    ? path.dirname(beside)
    : undefined;
}
