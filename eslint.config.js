import js from "@eslint/js";
import tseslint from "typescript-eslint";

/**
 * The layers of src/, lowest first: what each folder may import besides node: and its own files.
 * Dependencies point down; the core never imports the command layer (cli/), whose Reporter it
 * receives (report.ts). A new folder goes in here with its place in the stack.
 */
const LAYERS = {
  util: [],
  process: ["util"],
  bundle: ["util"],
  docker: ["process", "util"],
  compose: ["docker", "process", "util"],
  packager: ["bundle", "compose", "docker", "process", "util"],
  installer: ["bundle", "compose", "docker", "process", "util"],
  fleet: ["bundle", "installer", "process", "util"],
};
const FOLDERS = [...Object.keys(LAYERS), "cli", "bin"];

const boundaries = Object.entries(LAYERS).map(([folder, allowed]) => ({
  files: [`src/${folder}/**/*.ts`],
  rules: {
    "no-restricted-imports": [
      "error",
      {
        patterns: FOLDERS.filter((f) => f !== folder && !allowed.includes(f)).map((f) => ({
          group: [`../${f}/*`, `../../${f}/*`],
          message: `src/${folder} may import only ${allowed.length ? allowed.join(", ") : "node:"} (and errors, report, version): see LAYERS in eslint.config.js`,
        })),
      },
    ],
  },
}));

/** One door to the engine: only src/docker/ runs the docker client (the rest calls its functions). */
const oneDoorToDocker = {
  files: ["src/**/*.ts"],
  ignores: ["src/docker/**"],
  rules: {
    "no-restricted-syntax": [
      "error",
      {
        selector:
          "CallExpression[callee.name=/^(runCommand|streamCommand)$/][arguments.0.property.name='docker']",
        message: "docker runs only in src/docker/: add a function there (one door to the engine)",
      },
    ],
  },
};

export default tseslint.config(
  { ignores: ["node_modules/", "build/", "dist/", "coverage/", "examples/", "bin/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: "readonly", console: "readonly", Buffer: "readonly" } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
    },
  },
  ...boundaries,
  oneDoorToDocker,
);
