import { availableParallelism } from "node:os";

// zlib and fs share libuv's thread pool (4 threads by default): one per core, plus one, keeps
// compression on every core. It is read when the pool first starts, which is after this line.
process.env.UV_THREADPOOL_SIZE ??= String(Math.max(4, availableParallelism() + 1));
import { main } from "../cli/sealift.js";

// A reader that went away (`| head`) is not an error.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw error;
});
void main(process.argv);
