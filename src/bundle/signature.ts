/**
 * Signatures: an ed25519 signature over manifest.json, which holds the digest of SHA256SUMS, which
 * lists every file. One key pair per release team: `sealift keygen` makes it, `pack --sign KEY`
 * signs, the installer verifies with `--trust PUBKEY` under `--verify always|if-signed|never`.
 * A trusted key makes a signature required (only `--verify never` goes without one).
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from "node:crypto";
import { existsSync, promises as fs } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { SealiftError } from "../errors.js";
import { readBounded } from "../util/read-bounded.js";

export const SIGNATURE_PATH = "manifest.json.sig";

export type VerifyMode = "always" | "if-signed" | "never";

const signatureSchema = z.object({
  algorithm: z.literal("ed25519"),
  /** sha256 of the public key (SPKI DER), hex: names the key without shipping it. */
  keyId: z.string().regex(/^[0-9a-f]{64}$/),
  signature: z.string().min(1),
});
export type SignatureFile = z.infer<typeof signatureSchema>;

export function keyId(publicKey: KeyObject): string {
  return createHash("sha256")
    .update(publicKey.export({ type: "spki", format: "der" }))
    .digest("hex");
}

export async function generateKeys(privatePath: string, publicPath: string): Promise<string> {
  for (const file of [privatePath, publicPath]) {
    if (existsSync(file)) {
      throw new SealiftError("USAGE", `${file} already exists`, {
        hint: "choose another --name or --out; sealift never overwrites a key",
      });
    }
  }
  for (const folder of new Set([path.dirname(privatePath), path.dirname(publicPath)]))
    await fs.mkdir(folder, { recursive: true }).catch((error: unknown) => {
      throw new SealiftError(
        "OUT_NOT_WRITABLE",
        `cannot make the folder ${folder} for the keys: ${(error as Error).message}`,
        {
          hint: "give --out a folder you can write to",
          cause: error,
        },
      );
    });
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  await fs.writeFile(privatePath, privateKey.export({ type: "pkcs8", format: "pem" }), {
    mode: 0o600,
    flag: "wx",
  });
  await fs.writeFile(publicPath, publicKey.export({ type: "spki", format: "pem" }), {
    mode: 0o644,
    flag: "wx",
  });
  return keyId(publicKey);
}

function loadKey(file: string, kind: "private" | "public"): KeyObject {
  try {
    const pem = readBounded(file, { maxBytes: 64 * 1024, what: "the key" });
    const key = kind === "private" ? createPrivateKey(pem) : createPublicKey(pem);
    if (key.asymmetricKeyType !== "ed25519") throw new Error(`a ${key.asymmetricKeyType} key, not ed25519`);
    return key;
  } catch (error) {
    if (error instanceof SealiftError) throw error;
    const [role, hint] =
      kind === "private"
        ? ["a signing key", "make one with `sealift keygen` and pass the .key file"]
        : ["a trusted key", "pass the .pub file `sealift keygen` made"];
    throw new SealiftError("USAGE", `cannot use ${file} as ${role}: ${(error as Error).message}`, {
      hint,
      cause: error,
    });
  }
}

export const loadPrivateKey = (file: string): KeyObject => loadKey(file, "private");
export const loadPublicKey = (file: string): KeyObject => loadKey(file, "public");

export function signManifest(manifest: Buffer, privateKey: KeyObject): string {
  const publicKey = createPublicKey(privateKey);
  const file: SignatureFile = {
    algorithm: "ed25519",
    keyId: keyId(publicKey),
    signature: sign(null, manifest, privateKey).toString("base64"),
  };
  return JSON.stringify(file, null, 2) + "\n";
}

export interface SignatureCheck {
  signed: boolean;
  /** The key that signed, when the signature verified. */
  keyId?: string;
}

/** Applies the verify mode; throws exit-3 errors for a bad, untrusted or missing signature. */
export function checkSignature(
  manifest: Buffer,
  signatureBytes: Buffer | undefined,
  options: { mode: VerifyMode; trusted: KeyObject[] },
): SignatureCheck {
  if (options.mode === "never") return { signed: !!signatureBytes };
  if (!signatureBytes) {
    // A trusted key given (or built in) means a signature is required: stripping it proves nothing.
    if (options.mode === "always" || options.trusted.length) {
      throw new SealiftError(
        "BUNDLE_UNSIGNED",
        options.mode === "always"
          ? "the bundle is not signed and --verify always asks for a signature"
          : "the bundle is not signed, and a trusted key (--trust, or one built into this installer) asks for a signature",
        {
          hint: "get the release team's signed bundle (sealift pack --sign KEY); a signature removed in transit reads as unsigned",
        },
      );
    }
    return { signed: false };
  }
  let parsed: SignatureFile;
  try {
    parsed = signatureSchema.parse(JSON.parse(signatureBytes.toString("utf8")));
  } catch (error) {
    throw new SealiftError("BUNDLE_SIGNATURE_INVALID", `${SIGNATURE_PATH} is not a sealift signature`, {
      hint: "the bundle was damaged or tampered with; do not install it",
      cause: error,
    });
  }
  const key = options.trusted.find((k) => keyId(k) === parsed.keyId);
  if (!key) {
    throw new SealiftError(
      "BUNDLE_SIGNATURE_UNTRUSTED",
      `the bundle is signed by key ${parsed.keyId.slice(0, 16)}, which is not trusted here`,
      {
        hint: options.trusted.length
          ? `the trusted keys are ${options.trusted.map((k) => keyId(k).slice(0, 16)).join(", ")}; pass the release team's public key with --trust FILE`
          : "pass the release team's public key with --trust FILE",
      },
    );
  }
  if (!verify(null, manifest, key, Buffer.from(parsed.signature, "base64"))) {
    throw new SealiftError(
      "BUNDLE_SIGNATURE_INVALID",
      `the signature of manifest.json does not verify with key ${parsed.keyId.slice(0, 16)}`,
      {
        hint: "the manifest was changed after signing: the bundle was tampered with or damaged; do not install it",
      },
    );
  }
  return { signed: true, keyId: parsed.keyId };
}

declare const SEALIFT_BAKED_KEYS: string[] | undefined;

/**
 * Public keys built into this installer (`SEALIFT_TRUSTED_KEYS=a.pub npm run build`): trusted
 * without --trust, and they make --verify always the default.
 */
export function bakedKeys(): KeyObject[] {
  const pems = typeof SEALIFT_BAKED_KEYS === "undefined" ? [] : SEALIFT_BAKED_KEYS;
  return pems.map((pem) => createPublicKey(pem));
}
