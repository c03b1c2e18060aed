/** The tool's version, put in by the build (esbuild `define`); "dev" when run from source. */
declare const SEALIFT_VERSION: string | undefined;
export const TOOL_VERSION: string = typeof SEALIFT_VERSION === "string" ? SEALIFT_VERSION : "0.0.0-dev";
