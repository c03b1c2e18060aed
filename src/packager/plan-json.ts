/**
 * `plan --json`: the plan of what `sealift pack` would do, declared once. `plan()` returns this
 * shape, the command prints it through the schema, and the tests read it back with parsePlanJson.
 */
import { z } from "zod";
import { jsonDocuments } from "../util/json-output.js";

const deviceJson = z.object({
  /** "nvidia", "cdi"... ("" when only capabilities are given). */
  driver: z.string(),
  capabilities: z.array(z.string()),
  /** "all", a number, or "" when device_ids name them. */
  count: z.string(),
  deviceIds: z.array(z.string()),
});

export const planJsonSchema = z.object({
  project: z.string(),
  dir: z.string(),
  files: z.array(z.string()),
  /** Other files compose reads (include, extends, env_file): shipped with the compose files. */
  composeInputs: z.array(z.string()),
  profiles: z.array(z.string()),
  compose: z.object({ flavour: z.string(), version: z.string() }),
  services: z.array(
    z.object({
      name: z.string(),
      image: z.string().nullable(),
      build: z
        .object({
          context: z.string(),
          dockerfile: z.string().nullable(),
          dockerfileInline: z.string().nullable(),
          args: z.record(z.string(), z.string()),
          target: z.string().nullable(),
        })
        .nullable(),
      ports: z.array(
        z.object({ hostIp: z.string(), published: z.string(), target: z.number(), protocol: z.string() }),
      ),
      volumes: z.array(z.object({ type: z.string(), source: z.string(), target: z.string() })),
      hostAccess: z.array(z.string()),
      /** Devices it reserves (GPUs): the installer checks the host has them. */
      devices: z.array(deviceJson),
    }),
  ),
  /** Data not in git that pack ships (files with sizes, volumes), and bind-mount data it would not. */
  data: z.object({
    files: z.array(z.object({ path: z.string(), size: z.number(), reason: z.enum(["asked", "lfs"]) })),
    bytes: z.number(),
    volumes: z.array(z.object({ key: z.string(), engineName: z.string() })),
    unshipped: z.array(
      z.object({
        service: z.string(),
        /** The mount's source, relative to the project. */
        source: z.string(),
        files: z.number(),
        bytes: z.number(),
        examples: z.array(z.string()),
      }),
    ),
  }),
  /** What pack builds (under NAME-SERVICE:RELEASE) and what it saves as it is. */
  build: z.array(z.string()),
  save: z.array(z.string()),
  /** The build cache pack ships: each built service's intermediate stages and cache mount ids. */
  cache: z.object({
    stages: z.array(z.object({ service: z.string(), stage: z.string() })),
    mounts: z.array(z.string()),
  }),
  variables: z.array(z.object({ name: z.string(), default: z.string(), secret: z.boolean() })),
  /** With Compose v1 only: variables the compose files use that are not offered (not in .env). */
  settingsNotOffered: z.array(z.string()),
  /** Lint findings: a warning code, file:line relative to the project, and what to change. */
  lint: z.array(z.object({ code: z.string(), where: z.string(), message: z.string() })),
});
export type Plan = z.infer<typeof planJsonSchema>;

/** plan's document from its stdout; throws (saying what is off) when it is not one. */
export function parsePlanJson(stdout: string): Plan {
  const [document] = jsonDocuments(stdout);
  return planJsonSchema.parse(document);
}
