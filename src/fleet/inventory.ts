/**
 * Ansible inventories, so that teams reuse the one they have: the INI format (groups, `:children`,
 * `:vars`, host lines with key=value) and the YAML format (all/children/hosts/vars), the connection
 * variables sealift uses (ansible_host, ansible_port, ansible_user, ansible_ssh_private_key_file,
 * ansible_ssh_common_args), and per-host settings for the app: `sealift_set_KEY=VALUE` host or group
 * variables, or a `sealift:` map (`{set: {KEY: VALUE}}`) in YAML. Variables resolve as in Ansible:
 * all < parent group < child group < host. `--limit` patterns select as Ansible does.
 */
import { readBoundedText } from "../util/read-bounded.js";
import { parseDocument } from "yaml";
import { SealiftError } from "../errors.js";
import picomatch from "picomatch";
import { split } from "shlex";
import { ALLOWED_SSH_OPTIONS, checkSshArgs } from "./ssh-options.js";

export interface InventoryHost {
  name: string;
  /** What ssh connects to: ansible_host, else the name. */
  address: string;
  port: number | null;
  user: string | null;
  keyFile: string | null;
  /** Extra ssh arguments (ansible_ssh_common_args), split as a shell would. */
  sshArgs: string[];
  /** The app's settings for this host (sealift_set_* and the `sealift.set` map). */
  settings: Record<string, string>;
  groups: string[];
}

export interface Inventory {
  hosts: InventoryHost[];
  /** Group name -> its hosts' names (children included). */
  groups: Map<string, string[]>;
}

type Vars = Record<string, unknown>;

interface RawGroup {
  hosts: Map<string, Vars>;
  children: Set<string>;
  vars: Vars;
}

/** Where each host and each of its variables was first set (INI lines; YAML: null), to name conflicts. */
type Definitions = Map<
  string,
  { line: number | null; vars: Map<string, { value: string; line: number | null }> }
>;

/** The largest inventory read (tens of hosts take a few KB). */
const MAX_INVENTORY_BYTES = 4 * 1024 * 1024;

/** Records one host variable; the same one set again to another value is an error naming both places. */
function define(defs: Definitions, file: string, host: string, line: number | null, vars: Vars): void {
  const entry = defs.get(host) ?? { line, vars: new Map() };
  defs.set(host, entry);
  for (const [key, raw] of Object.entries(vars)) {
    const value = typeof raw === "string" ? raw : JSON.stringify(raw);
    const before = entry.vars.get(key);
    if (before && before.value !== value)
      throw bad(
        file,
        line,
        `host ${host}: ${key} is set twice with different values (${JSON.stringify(before.value)}${before.line ? ` on line ${before.line}` : ""}, then ${JSON.stringify(value)}); an inventory says one thing per host`,
      );
    entry.vars.set(key, { value, line });
  }
}

/** The line where a host's ansible_ssh_common_args was set (INI), or null. */
function commonLine(defs: Definitions, host: string): number | null {
  return defs.get(host)?.vars.get("ansible_ssh_common_args")?.line ?? null;
}

function bad(
  file: string,
  line: number | null,
  message: string,
  hint = "fix that line of the inventory (Ansible's INI or YAML format), then run this again",
): SealiftError {
  return new SealiftError("INVENTORY_INVALID", `${file}${line ? `:${line}` : ""}: ${message}`, { hint });
}

/** A host line's words as Ansible's INI plugin splits them (Python's shlex); null: unbalanced quotes. */
function splitWords(text: string): string[] | null {
  try {
    return split(text);
  } catch {
    return null;
  }
}

/** A :vars value as Ansible reads it: a quoted string is its content; anything else as written. */
function varValue(value: string): string {
  const m = /^(["'])(.*)\1$/s.exec(value);
  return m ? m[2]! : value;
}

function group(groups: Map<string, RawGroup>, name: string): RawGroup {
  let g = groups.get(name);
  if (!g) {
    g = { hosts: new Map(), children: new Set(), vars: {} };
    groups.set(name, g);
  }
  return g;
}

function parseIni(text: string, file: string, defs: Definitions): Map<string, RawGroup> {
  const groups = new Map<string, RawGroup>();
  group(groups, "all");
  group(groups, "ungrouped");
  let section = { name: "ungrouped", kind: "hosts" as "hosts" | "children" | "vars" };
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.replace(/^\s+|\s+$/g, "");
    const n = index + 1;
    if (!line || line.startsWith("#") || line.startsWith(";")) return;
    const header = /^\[([^\]:\s]+)(?::(children|vars))?\]$/.exec(line);
    if (line.startsWith("[")) {
      if (!header)
        throw bad(file, n, `"${line}" is not a section header ([group], [group:children], [group:vars])`);
      section = { name: header[1]!, kind: (header[2] as "children" | "vars" | undefined) ?? "hosts" };
      group(groups, section.name);
      return;
    }
    const words = splitWords(line);
    if (!words?.length) throw bad(file, n, `unbalanced quotes in "${line}"`);
    if (section.kind === "children") {
      if (words.length !== 1)
        throw bad(file, n, `a :children section lists one group per line, not "${line}"`);
      group(groups, words[0]!);
      group(groups, section.name).children.add(words[0]!);
      return;
    }
    if (section.kind === "vars") {
      const kv = /^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
      if (!kv) throw bad(file, n, `a :vars section holds KEY=VALUE lines, not "${line}"`);
      group(groups, section.name).vars[kv[1]!] = varValue(kv[2]!.trim());
      return;
    }
    const [name, ...assignments] = words;
    if (name!.includes("=")) throw bad(file, n, `a host line starts with the host's name, not "${name}"`);
    if (/\[\d+:\d+\]/.test(name!))
      throw bad(file, n, `host ranges like ${name} are not supported: list the hosts`);
    const vars: Vars = {};
    for (const assignment of assignments) {
      const eq = assignment.indexOf("=");
      if (eq <= 0) throw bad(file, n, `"${assignment}" is not KEY=VALUE (host ${name})`);
      vars[assignment.slice(0, eq)] = assignment.slice(eq + 1);
    }
    define(defs, file, name!, n, vars);
    const target = group(groups, section.name);
    target.hosts.set(name!, { ...target.hosts.get(name!), ...vars });
  });
  return groups;
}

function parseYamlInventory(text: string, file: string, defs: Definitions): Map<string, RawGroup> {
  const doc = parseDocument(text, { prettyErrors: true });
  const first = doc.errors[0];
  if (first) throw bad(file, first.linePos?.[0]?.line ?? null, first.message.split("\n")[0]!);
  let root: unknown;
  try {
    // Aliases are expanded at most 100 times: a "billion laughs" file is refused, not expanded.
    root = doc.toJS({ maxAliasCount: 100 }) as unknown;
  } catch (error) {
    throw bad(file, null, `cannot be read: ${(error as Error).message}`);
  }
  if (!root || typeof root !== "object" || Array.isArray(root))
    throw bad(file, null, "a YAML inventory is a map of groups (all: {hosts: ..., children: ...})");
  const groups = new Map<string, RawGroup>();
  group(groups, "all");
  const visit = (name: string, body: unknown, parent: string | null) => {
    const g = group(groups, name);
    if (parent) group(groups, parent).children.add(name);
    if (body === null || body === undefined) return;
    if (typeof body !== "object" || Array.isArray(body))
      throw bad(file, null, `group ${name} must be a map with hosts, children or vars`);
    const spec = body as { hosts?: unknown; children?: unknown; vars?: unknown };
    for (const key of Object.keys(spec))
      if (!["hosts", "children", "vars"].includes(key))
        throw bad(file, null, `group ${name} has "${key}"; a group holds hosts, children and vars`);
    if (spec.vars !== undefined && (typeof spec.vars !== "object" || Array.isArray(spec.vars)))
      throw bad(file, null, `vars of group ${name} must be a map`);
    Object.assign(g.vars, spec.vars ?? {});
    if (spec.hosts !== undefined && spec.hosts !== null) {
      if (typeof spec.hosts !== "object" || Array.isArray(spec.hosts))
        throw bad(file, null, `hosts of group ${name} must be a map of host names`);
      for (const [host, vars] of Object.entries(spec.hosts as Record<string, unknown>)) {
        if (vars !== null && (typeof vars !== "object" || Array.isArray(vars)))
          throw bad(file, null, `host ${host} in group ${name}: its variables must be a map`);
        define(defs, file, host, null, (vars as Vars | null) ?? {});
        g.hosts.set(host, { ...g.hosts.get(host), ...((vars as Vars | null) ?? {}) });
      }
    }
    if (spec.children !== undefined && spec.children !== null) {
      if (typeof spec.children !== "object" || Array.isArray(spec.children))
        throw bad(file, null, `children of group ${name} must be a map of groups`);
      for (const [child, childBody] of Object.entries(spec.children as Record<string, unknown>))
        visit(child, childBody, name);
    }
  };
  for (const [name, body] of Object.entries(root as Record<string, unknown>))
    visit(name, body, name === "all" ? null : "all");
  return groups;
}

/** Every host under a group, children included. */
function hostsUnder(groups: Map<string, RawGroup>, name: string, seen = new Set<string>()): string[] {
  if (seen.has(name)) return [];
  seen.add(name);
  const g = groups.get(name);
  if (!g) return [];
  return [...new Set([...g.hosts.keys(), ...[...g.children].flatMap((c) => hostsUnder(groups, c, seen))])];
}

/** The groups from `all` down to `name`'s ancestors, outermost first (Ansible's precedence order). */
function depthOf(groups: Map<string, RawGroup>, name: string): number {
  if (name === "all") return 0;
  let depth = 1;
  for (const [parent, g] of groups)
    if (g.children.has(name) && parent !== "all") depth = Math.max(depth, depthOf(groups, parent) + 1);
  return depth;
}

function asText(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** A group that is its own ancestor (a :children loop) is refused, naming the loop. */
function refuseCycles(groups: Map<string, RawGroup>, file: string): void {
  const state = new Map<string, "visiting" | "done">();
  const visit = (name: string, trail: string[]) => {
    if (state.get(name) === "done") return;
    if (state.get(name) === "visiting")
      throw bad(
        file,
        null,
        `groups form a loop: ${[...trail.slice(trail.indexOf(name)), name].join(" -> ")}`,
      );
    state.set(name, "visiting");
    for (const child of groups.get(name)?.children ?? []) visit(child, [...trail, name]);
    state.set(name, "done");
  };
  for (const name of groups.keys()) visit(name, []);
}

/** A host, address or user that ssh could read as an option, or that holds spaces or control characters. */
function checkWord(file: string, line: number | null, what: string, value: string): void {
  const control = [...value].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);
  if (value.startsWith("-") || /\s/.test(value) || control || !value)
    throw bad(
      file,
      line,
      `${what} ${JSON.stringify(value)} cannot be used: it is empty, begins with "-" (ssh would read it as an option) or holds spaces or control characters`,
    );
}

export function parseInventory(text: string, file: string): Inventory {
  if (Buffer.byteLength(text) > MAX_INVENTORY_BYTES)
    throw bad(
      file,
      null,
      `is larger than ${MAX_INVENTORY_BYTES / 1024 / 1024} MiB; an inventory of hundreds of hosts takes a few hundred KB`,
    );
  const looksYaml = /\.(ya?ml)$/i.test(file) || /^\s*all\s*:/m.test(text);
  const defs: Definitions = new Map();
  const groups = looksYaml ? parseYamlInventory(text, file, defs) : parseIni(text, file, defs);
  refuseCycles(groups, file);
  // INI: hosts in no group are "ungrouped"; every group is under all.
  const names = new Set<string>();
  for (const g of groups.values()) for (const h of g.hosts.keys()) names.add(h);
  const all = group(groups, "all");
  for (const name of groups.keys()) if (name !== "all") all.children.add(name);
  const hosts: InventoryHost[] = [];
  for (const name of names) {
    const member = [...groups.entries()]
      .filter(([g]) => hostsUnder(groups, g).includes(name))
      .map(([g]) => g);
    const ordered = member.sort((a, b) => depthOf(groups, a) - depthOf(groups, b) || a.localeCompare(b));
    const vars: Vars = {};
    for (const g of ordered) Object.assign(vars, groups.get(g)!.vars);
    for (const g of ordered) Object.assign(vars, groups.get(g)!.hosts.get(name) ?? {});
    const settings: Record<string, string> = {};
    for (const [key, value] of Object.entries(vars))
      if (key.startsWith("sealift_set_")) settings[key.slice("sealift_set_".length)] = asText(value);
    const sealift = vars.sealift as { set?: Record<string, unknown> } | undefined;
    for (const [key, value] of Object.entries(sealift?.set ?? {})) settings[key] = asText(value);
    const line = defs.get(name)?.line ?? null;
    const port = vars.ansible_port ?? vars.ansible_ssh_port;
    if (port !== undefined && (!/^\d+$/.test(String(port)) || Number(port) < 1 || Number(port) > 65535))
      throw bad(file, line, `host ${name}: ansible_port "${asText(port)}" is not a port number (1-65535)`);
    const address = String(vars.ansible_host ?? vars.ansible_ssh_host ?? name);
    const user = vars.ansible_user === undefined ? null : String(vars.ansible_user);
    checkWord(file, line, "host name", name);
    checkWord(file, line, `host ${name}: ansible_host`, address);
    if (user !== null) checkWord(file, line, `host ${name}: ansible_user`, user);
    const common = vars.ansible_ssh_common_args === undefined ? "" : asText(vars.ansible_ssh_common_args);
    const checked = checkSshArgs(common);
    if (!checked.ok)
      throw bad(
        file,
        commonLine(defs, name) ?? line,
        `host ${name}: ansible_ssh_common_args passes ${JSON.stringify(checked.word)} to ssh, which ${checked.why}`,
        `an inventory may give ssh only ${ALLOWED_SSH_OPTIONS}; anything else belongs in your own ~/.ssh/config`,
      );
    const sshArgs = checked.args;
    for (const key of Object.keys(settings))
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key))
        throw bad(file, line, `host ${name}: setting ${JSON.stringify(key)} is not a variable name`);
    hosts.push({
      name,
      address,
      port: port === undefined ? null : Number(port),
      user,
      keyFile:
        vars.ansible_ssh_private_key_file === undefined ? null : String(vars.ansible_ssh_private_key_file),
      sshArgs,
      settings,
      groups: member.filter((g) => g !== "all").sort(),
    });
  }
  if (!hosts.length) throw bad(file, null, "no hosts in this inventory");
  const groupMap = new Map([...groups.keys()].map((g) => [g, hostsUnder(groups, g)]));
  return { hosts, groups: groupMap };
}

export function readInventory(file: string): Inventory {
  const text = readBoundedText(file, {
    maxBytes: MAX_INVENTORY_BYTES,
    what: "the inventory",
    code: "INVENTORY_INVALID",
    hint: "give an Ansible inventory file (INI or YAML) with --hosts",
  });
  return parseInventory(text, file);
}

/** A `--limit ~REGEX` part as a matcher; a regular expression that does not parse is USAGE. */
function regexMatcher(source: string): (name: string) => boolean {
  try {
    const regex = new RegExp(source);
    return (name) => regex.test(name);
  } catch (error) {
    throw new SealiftError("USAGE", `--limit ~${source}: ${(error as Error).message}`, {
      hint: "after ~ comes a regular expression (as Ansible's --limit reads it)",
    });
  }
}

/**
 * Ansible's --limit: patterns separated by "," or ":", each a host or group name or a glob (`web*`);
 * `!pattern` removes, `&pattern` keeps only what it also matches.
 */
export function limitHosts(inventory: Inventory, limit: string | undefined): InventoryHost[] {
  if (limit === undefined) return inventory.hosts;
  const known = `hosts: ${inventory.hosts.map((h) => h.name).join(", ")}; groups: ${[...inventory.groups.keys()].join(", ")}`;
  if (!limit.trim())
    throw new SealiftError("USAGE", "--limit is empty: it would select no host", {
      hint: `give hosts or groups (${known}), or leave --limit out for every host`,
    });
  const match = (pattern: string): Set<string> => {
    if (inventory.groups.has(pattern)) return new Set(inventory.groups.get(pattern));
    // As Ansible: "~" starts a regular expression, anything else is a shell-style pattern (fnmatch).
    const test = pattern.startsWith("~")
      ? regexMatcher(pattern.slice(1))
      : picomatch(pattern, { dot: true, nobrace: true, noextglob: true });
    const found = new Set<string>();
    for (const h of inventory.hosts) if (test(h.name)) found.add(h.name);
    for (const [g, members] of inventory.groups) if (test(g)) members.forEach((m) => found.add(m));
    return found;
  };
  let selected = new Set<string>();
  const parts = limit
    .split(/[,:]/)
    .map((p) => p.trim())
    .filter(Boolean);
  // As Ansible: a pattern that matches nothing is an error, not a silent no-op.
  const unknown = parts.filter((p) => match(p.replace(/^[!&]/, "")).size === 0);
  if (unknown.length)
    throw new SealiftError(
      "USAGE",
      `--limit: no hosts matched ${unknown.map((p) => JSON.stringify(p)).join(", ")}`,
      {
        hint: known,
      },
    );
  for (const part of parts.filter((p) => !p.startsWith("!") && !p.startsWith("&")))
    match(part).forEach((h) => selected.add(h));
  if (parts.every((p) => p.startsWith("!") || p.startsWith("&")))
    selected = new Set(inventory.hosts.map((h) => h.name));
  for (const part of parts.filter((p) => p.startsWith("&"))) {
    const keep = match(part.slice(1));
    selected = new Set([...selected].filter((h) => keep.has(h)));
  }
  for (const part of parts.filter((p) => p.startsWith("!")))
    match(part.slice(1)).forEach((h) => selected.delete(h));
  const hosts = inventory.hosts.filter((h) => selected.has(h.name));
  if (!hosts.length)
    throw new SealiftError("USAGE", `--limit ${limit} matches no host of the inventory`, {
      hint: known,
    });
  return hosts;
}
