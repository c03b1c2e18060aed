/**
 * The install's journal, DIR/.sealift/journal.json: written (then fsync'd, then renamed into place)
 * before the install's first change to the host and at each stage after it, removed when the
 * install is done or the host is back as it was. Found by a later command, it says what a power cut
 * or a `kill -9` interrupted (dpkg's half-installed state, a database's journal): status reports it
 * with the fix, the next install of the same release finishes it, rollback returns to the one before.
 */
import { promises as fs } from "node:fs";
import { readStateJson } from "../util/read-bounded.js";
import path from "node:path";
import { z } from "zod";
import { RECORD_DIR } from "./install-record.js";
import { writeDurably } from "../util/durable-write.js";

const JOURNAL_FILE = "journal.json";

/** Where the install stood: each stage starts when the one before it has finished. */
export const JOURNAL_STAGES = ["loading", "placing", "starting", "fitting"] as const;
export type JournalStage = (typeof JOURNAL_STAGES)[number];

const releaseRef = z.object({ release: z.string(), manifestSha256: z.string() });
export const journalSchema = z.object({
  /** The release installed before (null: a first install). */
  from: releaseRef.nullable(),
  to: releaseRef,
  bundle: z.string(),
  stage: z.enum(JOURNAL_STAGES),
  pid: z.number().int(),
  startedAt: z.string(),
  updatedAt: z.string(),
});
export type Journal = z.infer<typeof journalSchema>;

/** What each stage means for the app, for the operator. */
const WHILE: Record<JournalStage, string> = {
  loading: "loading images (the app's files and containers were not touched yet)",
  placing: "placing the new release's files",
  starting: "starting services",
  fitting: "fitting the build cache (the new release had started)",
};

function journalPath(dir: string): string {
  return path.join(dir, RECORD_DIR, JOURNAL_FILE);
}

/** Writes the journal durably (writeDurably: a temporary file, fsync, rename, fsync of the folder). */
export async function writeJournal(dir: string, journal: Journal): Promise<void> {
  await writeDurably(journalPath(dir), JSON.stringify(journal) + "\n", 0o600);
}

export async function clearJournal(dir: string): Promise<void> {
  await fs.rm(journalPath(dir), { force: true });
}

/** The journal an interrupted install left, or null (none, or unreadable: cut before its rename). */
export function readJournal(dir: string): Journal | null {
  const file = journalPath(dir);
  try {
    const json = readStateJson(file, "the journal", "", 64 * 1024);
    return json === null ? null : journalSchema.parse(json);
  } catch {
    return null;
  }
}

/** The journal's stages as one install goes through them. */
export function journalFor(
  dir: string,
  entry: Omit<Journal, "stage" | "pid" | "startedAt" | "updatedAt">,
): { stage(stage: JournalStage): Promise<void>; done(): Promise<void> } {
  const startedAt = new Date().toISOString();
  return {
    stage: (stage) =>
      writeJournal(dir, {
        ...entry,
        stage,
        pid: process.pid,
        startedAt,
        updatedAt: new Date().toISOString(),
      }),
    done: () => clearJournal(dir),
  };
}

/** What an interrupted install means, and what to do, in the operator's words. */
export function describeInterrupted(
  journal: Journal,
  dir: string,
  installer: string,
): { message: string; hint: string } {
  const rerun = `${installer} ${journal.bundle}`;
  if (!journal.from)
    return {
      message: `the first install of release ${journal.to.release} was interrupted while ${WHILE[journal.stage]}; nothing is installed`,
      hint: `run the installer again to finish it (\`${rerun}\`), or uninstall what it left (\`${installer} uninstall --dir ${dir}\`)`,
    };
  const back =
    journal.stage === "loading"
      ? `release ${journal.from.release} still runs as it was`
      : "the app may be partly down";
  return {
    message: `an upgrade from release ${journal.from.release} to ${journal.to.release} was interrupted while ${WHILE[journal.stage]}; ${back}`,
    hint: `run \`${rerun}\` again to finish it, or \`${installer} rollback --dir ${dir}\` to return to ${journal.from.release}`,
  };
}
