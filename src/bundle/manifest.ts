/**
 * manifest.json: declared once here, giving both the TypeScript type and the runtime check that
 * the packager and the installer apply.
 */
import { z } from "zod";
import { entryPathProblem } from "./entry-path.js";
import { BUNDLE_FORMAT, DELTA_FORMAT_VERSION, FORMAT_VERSION, STATE_DIR, inStateDir } from "./layout.js";

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, "must be 64 lowercase hex digits");
const relativePath = z
  .string()
  .min(1)
  .refine((p) => entryPathProblem(p) === null, "must be a relative path inside the bundle");

/** A path the install places in the install folder: never in the installer's own state folder. */
const placedPath = relativePath.refine(
  (p) => !inStateDir(p),
  `must not be in ${STATE_DIR}/ (the installer's own folder)`,
);

export const fileRecordSchema = z.object({
  path: relativePath,
  size: z.number().int().nonnegative(),
  sha256: sha256Hex,
});
export type FileRecord = z.infer<typeof fileRecordSchema>;

export const linkRecordSchema = z.object({ path: relativePath, target: z.string().min(1) });
export type LinkRecord = z.infer<typeof linkRecordSchema>;

/** A build-cache stage image: the manifest's entry and (with its ID on a host) the install record's. */
export const cacheImageSchema = z.object({
  service: z.string(),
  stage: z.string(),
  image: z.string(),
  imageId: z.string().regex(/^sha256:[0-9a-f]{64}$/),
});

export const variableSchema = z.object({ name: z.string(), default: z.string(), secret: z.boolean() });

export const serviceRecordSchema = z.object({
  name: z.string().min(1),
  /** The reference compose runs: the pinned tag for built services, the image as written otherwise. */
  image: z.string().min(1),
  /** The config digest: the image's identity on any host and store. */
  imageId: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  built: z.boolean(),
  platform: z.object({ os: z.string(), architecture: z.string(), variant: z.string().optional() }),
  /** Layer diffIDs, base first. */
  layers: z.array(z.string()),
  /** Published host ports as declared (variables not yet replaced). */
  ports: z.array(z.string()),
  healthcheck: z.boolean(),
  /** Reach beyond the container declared at pack time (host paths, privileged...); the installer shows it. */
  hostAccess: z.array(z.string()).default([]),
  /** Devices it reserves (deploy.resources.reservations.devices, gpus): the host must provide them. */
  devices: z
    .array(
      z.object({
        driver: z.string(),
        capabilities: z.array(z.string()),
        count: z.string(),
        deviceIds: z.array(z.string()),
      }),
    )
    .default([]),
});
export type ServiceRecord = z.infer<typeof serviceRecordSchema>;

export const baseRecordSchema = z.object({
  project: z.string(),
  release: z.string(),
  /** sha256 of the base release's manifest.json. */
  manifestSha256: sha256Hex,
  /** Layers (diffIDs) left out of this bundle: the host must have them from the base release. */
  layers: z.array(z.string()),
  bytesLeftOut: z.number().int().nonnegative(),
});

/**
 * The .tar.gz's index: the gzip members before the tail, in order, as [compressed bytes,
 * uncompressed bytes], and the uncompressed offset of each file's and link's first tar header
 * block. A reader that has it inflates only the members holding entries it uses, several at once.
 * Wrong numbers cannot pass a bad file: what is read is still checked against SHA256SUMS.
 * `memberSha256` is each member's sha256 as stored (compressed): a reader that skips a member
 * still hashes its bytes, so every byte of the archive is covered by the manifest's chain.
 */
export const archiveIndexSchema = z.object({
  members: z.array(z.tuple([z.number().int().positive(), z.number().int().nonnegative()])),
  memberSha256: z.array(sha256Hex).optional(),
  entries: z.record(z.string(), z.number().int().nonnegative()),
});
export type ArchiveIndex = z.infer<typeof archiveIndexSchema>;

/** Every member's stored digest, when the index has one for each (bundles before them have none). */
export function memberDigests(index: ArchiveIndex): readonly string[] | undefined {
  return index.memberSha256?.length === index.members.length ? index.memberSha256 : undefined;
}

const manifestObject = z.looseObject({
  format: z.literal(BUNDLE_FORMAT),
  formatVersion: z.union([z.literal(FORMAT_VERSION), z.literal(DELTA_FORMAT_VERSION)]),
  /** Set in a delta bundle: the release it builds on. */
  base: baseRecordSchema.optional(),
  tool: z.object({ name: z.literal("sealift"), version: z.string() }),
  createdAt: z.iso.datetime(),
  project: z.object({
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/),
    release: z.string().min(1),
    /** The -f files compose read, in order (shipped under compose/). */
    composeFiles: z.array(placedPath).min(1),
    /** Other files compose read (include, extends, env_file), shipped under compose/ too. */
    composeInputs: z.array(relativePath).default([]),
    /** Build contexts inside the project (v1's compose wants them to exist to read the project). */
    buildContexts: z.array(z.string()).default([]),
    /** The profiles packed: the services are the ones compose starts with them. */
    profiles: z.array(z.string()).default([]),
    override: relativePath,
    envTemplate: relativePath.nullable(),
    variables: z.array(variableSchema),
  }),
  source: z.object({
    path: relativePath,
    git: z
      .object({ commit: z.string().nullable(), dirty: z.boolean(), changedFiles: z.array(z.string()) })
      .nullable(),
  }),
  build: z.object({
    dockerClient: z.string(),
    dockerServer: z.string(),
    builder: z.enum(["buildx", "buildkit", "legacy"]),
    /** The packing engine's image store (absent from older bundles: classic). */
    imageStore: z.enum(["classic", "containerd"]).optional(),
    compose: z.object({ flavour: z.enum(["v1", "v2"]), version: z.string() }).nullable(),
  }),
  images: z.object({
    /** What `docker save` wrote: a docker-archive (20.10), or an OCI layout with manifest.json (25+). */
    format: z.enum(["docker-archive", "oci-layout"]),
    dir: relativePath,
    bytes: z.number().int().nonnegative(),
    /**
     * For every layer (diffID) of the shipped images, the blob that holds it (compressed on the
     * containerd store), carried or left to the base release. Absent from older bundles, whose
     * layer.tar files are the layers themselves.
     */
    blobs: z
      .record(z.string(), z.object({ sha256: sha256Hex, size: z.number().int().nonnegative() }))
      .optional(),
  }),
  services: z.array(serviceRecordSchema).min(1),
  /** path null: a delta that leaves out the installer, the same as its base's. */
  installer: z.object({ path: relativePath.nullable(), platform: z.string() }),
  requirements: z.object({
    dockerMinVersion: z.string(),
    /** Bytes the images take once loaded (sum of unique layers, uncompressed). */
    dockerDataBytes: z.number().int().nonnegative(),
    /**
     * The images' layers unpacked (gzip'd blobs, as the containerd store saves them, by their gzip
     * trailer); absent in bundles before 0.2, where images.bytes stands in for it.
     */
    imagesUnpackedBytes: z.number().int().nonnegative().optional(),
    /** Bytes the installed source and compose files take. */
    installDirBytes: z.number().int().nonnegative(),
  }),
  /** The build cache (absent when packed with --no-cache). */
  cache: z
    .object({
      images: z.array(cacheImageSchema.extend({ layers: z.array(z.string()).default([]) })),
      mounts: z.array(
        z.object({
          id: z.string().min(1),
          target: z.string(),
          /** Mount options as written in the Dockerfile (uid, gid, mode, sharing...). */
          options: z.record(z.string(), z.string()),
          service: z.string(),
          stage: z.string(),
          /** The image the helper build runs in on the target. */
          helper: z.string(),
          /** null in a delta: unchanged since the base release, imported when that was installed. */
          path: relativePath.nullable(),
          bytes: z.number().int().nonnegative(),
          /** sha256 of the archive's content, times left out: tells an unchanged mount in a delta. */
          contentSha256: sha256Hex.optional(),
        }),
      ),
    })
    .optional(),
  /** Data not in git (absent: none). Each file lands at its path in the install folder. */
  data: z
    .object({
      files: z.array(
        z.object({
          path: placedPath,
          size: z.number().int().nonnegative(),
          sha256: sha256Hex,
          /** false in a delta: unchanged since the base release, which placed it already. */
          shipped: z.boolean(),
        }),
      ),
      volumes: z.array(
        z.object({
          /** The volume's key in the compose files. */
          key: z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/),
          /** Its content as a tar; null in a delta when unchanged since the base release. */
          path: relativePath.nullable(),
          bytes: z.number().int().nonnegative(),
          /** sha256 of the tar's content, times left out: tells an unchanged volume in a delta. */
          contentSha256: sha256Hex,
        }),
      ),
    })
    .optional(),
  files: z.array(fileRecordSchema).min(1),
  links: z.array(linkRecordSchema),
  /** Where things sit in the .tar.gz sealift pack wrote (absent from older bundles). */
  archive: archiveIndexSchema.optional(),
  /** sha256 of SHA256SUMS: the manifest vouches for the list that vouches for every file. */
  sha256sums: sha256Hex,
});
export const manifestSchema = manifestObject.refine(
  (m) => (m.formatVersion === DELTA_FORMAT_VERSION) === !!m.base,
  "a delta bundle (with a base) has format version 2, a complete one version 1",
);
export type Manifest = z.infer<typeof manifestSchema>;
export type DataRecord = NonNullable<Manifest["data"]>;

/** Where a data file travels inside the bundle. */
export function dataBundlePath(file: string): string {
  return `data/files/${file}`;
}

/** Validates parsed JSON; returns readable problems ("services.0.imageId: ...") or the manifest. */
export function parseManifest(
  json: unknown,
): { ok: true; manifest: Manifest } | { ok: false; problems: string[] } {
  const result = manifestSchema.safeParse(json);
  if (result.success) return { ok: true, manifest: result.data };
  return {
    ok: false,
    problems: result.error.issues
      .slice(0, 10)
      .map((i) => `${i.path.join(".") || "(top level)"}: ${i.message}`),
  };
}

/**
 * Where a file's content lies in the archive as whole gzip members of its own (the installer: its
 * members, compressed once at build time, are spliced in where its bytes go): the compressed
 * offset and length of those members, which `gunzip` alone turns back into the file. Null when the
 * file shares a member with other bytes, or the archive has no index.
 */
export function storedMembers(manifest: Manifest, file: string): { offset: number; length: number } | null {
  const index = manifest.archive;
  const start = index?.entries[file];
  const size = manifest.files.find((f) => f.path === file)?.size;
  if (!index || start === undefined || !size) return null;
  const spans = memberSpans(index);
  // The content starts a member right after the entry's header blocks (a few at most).
  const first = spans.findIndex((m) => m.at > start && m.at <= start + 4 * 512);
  if (first < 0) return null;
  let covered = 0;
  let length = 0;
  for (const m of spans.slice(first)) {
    if (covered >= size) break;
    covered += m.u;
    length += m.c;
  }
  return covered === size ? { offset: spans[first]!.offset, length } : null;
}

/** A gzip member of the archive: its number, where it starts stored (offset) and inflated (at), its sizes. */
export interface MemberSpan {
  n: number;
  offset: number;
  c: number;
  at: number;
  u: number;
}

/** The archive's gzip members in order, with their offsets: the one walk over the index's sizes. */
export function memberSpans(index: ArchiveIndex): MemberSpan[] {
  let offset = 0;
  let at = 0;
  return index.members.map(([c, u], n) => {
    const span = { n, offset, c, at, u };
    offset += c;
    at += u;
    return span;
  });
}
