/** The build step: the services' images on this machine (built under pinned tags), and the installer to ship. */
import { promises as fs } from "node:fs";
import { resolveImages } from "../images.js";
import { installerFor } from "../installer-binary.js";
import { type PackOptions, type Project } from "./types.js";

/** The services' images on this machine (built under pinned tags), and the installer to ship. */
export async function buildImages(project: Project, options: PackOptions) {
  const { reporter, signal } = options;
  const resolved = await resolveImages(project.host, project.model, project.release, {
    pull: options.pull,
    reporter,
    signal,
  });
  const arch = resolved[0]!.image.architecture;
  const installer = installerFor(arch, options.installer);
  const installerSize = (await fs.stat(installer)).size;
  return { resolved, arch, installer, installerSize };
}
