/**
 * @module testing/fakes/_vault-acl
 * The ACL policy engine of the Vault fake: a parser for the HCL subset (and the JSON form) that
 * Vault policies use, and Vault's path matching — `*` as a trailing glob, `+` for one segment,
 * the documented priority rules between patterns, capabilities merged across policies, `deny`
 * over everything. Test code, kept apart from the server so that it can be read on its own.
 */
import { isRecord } from '../../util/json.ts';
import { FakeHttpError } from './_serve-fake.ts';

// ---------------------------------------------------------------------------------------------

const CAPABILITIES = new Set([
  'create',
  'read',
  'update',
  'patch',
  'delete',
  'list',
  'sudo',
  'deny',
  'subscribe',
  'recover',
]);

/** Pre-0.9 `policy = "…"` shorthand. */
const LEGACY_POLICY: Record<string, string[]> = {
  deny: ['deny'],
  read: ['read', 'list'],
  write: ['create', 'read', 'update', 'delete', 'list'],
  sudo: ['create', 'read', 'update', 'delete', 'list', 'sudo'],
};

/** One `path "…" { capabilities = […] }` block. */
export interface PolicyRule {
  pattern: string;
  capabilities: Set<string>;
}

type HclValue = string | number | boolean | HclValue[] | HclObject;
interface HclObject {
  [key: string]: HclValue | HclValue[];
}

function policyError(problem: string): FakeHttpError {
  return new FakeHttpError(400, `failed to parse policy: ${problem}`);
}

/** A tokenizer and parser for the HCL subset policies use (blocks, strings, lists, comments). */
function parseHcl(text: string): { name: string; labels: string[]; body: HclObject }[] {
  const tokens: { kind: 'str' | 'word' | 'num' | 'punct'; value: string }[] = [];
  for (let i = 0; i < text.length; ) {
    const ch = text[i] as string;
    if (/\s/.test(ch)) {
      i += 1;
    } else if (ch === '#' || text.startsWith('//', i)) {
      while (i < text.length && text[i] !== '\n') i += 1;
    } else if (text.startsWith('/*', i)) {
      const end = text.indexOf('*/', i + 2);
      if (end === -1) throw policyError('unterminated comment');
      i = end + 2;
    } else if (ch === '"') {
      let value = '';
      i += 1;
      for (;;) {
        if (i >= text.length) throw policyError('unterminated string');
        const c = text[i] as string;
        if (c === '"') break;
        if (c === '\\') {
          const next = text[i + 1] ?? '';
          const escapes: Record<string, string> = { n: '\n', t: '\t', '"': '"', '\\': '\\' };
          value += escapes[next] ?? next;
          i += 2;
        } else {
          value += c;
          i += 1;
        }
      }
      i += 1;
      tokens.push({ kind: 'str', value });
    } else if ('{}[]=,:'.includes(ch)) {
      tokens.push({ kind: 'punct', value: ch });
      i += 1;
    } else {
      const m = /^[A-Za-z0-9_.-]+/.exec(text.slice(i));
      if (!m) throw policyError(`unexpected character at offset ${i}`);
      tokens.push({ kind: /^\d/.test(m[0]) ? 'num' : 'word', value: m[0] });
      i += m[0].length;
    }
  }
  let pos = 0;
  const peek = () => tokens[pos];
  const parseValue = (): HclValue => {
    const t = tokens[pos];
    if (!t) throw policyError('unexpected end of policy');
    pos += 1;
    if (t.kind === 'str') return t.value;
    if (t.kind === 'num') return Number(t.value);
    if (t.kind === 'word' && (t.value === 'true' || t.value === 'false')) return t.value === 'true';
    if (t.kind === 'punct' && t.value === '[') {
      const list: HclValue[] = [];
      while (peek()?.value !== ']' || peek()?.kind !== 'punct') {
        list.push(parseValue());
        if (peek()?.kind === 'punct' && peek()?.value === ',') pos += 1;
        if (pos >= tokens.length) throw policyError('unterminated list');
      }
      pos += 1;
      return list;
    }
    if (t.kind === 'punct' && t.value === '{') return parseBody('}');
    throw policyError(`unexpected "${t.value}"`);
  };
  const parseBody = (close: string | undefined): HclObject => {
    const body: HclObject = {};
    for (;;) {
      const t = peek();
      if (t === undefined) {
        if (close === undefined) return body;
        throw policyError('unterminated block');
      }
      if (t.kind === 'punct' && t.value === close) {
        pos += 1;
        return body;
      }
      if (t.kind === 'punct' && t.value === ',') {
        pos += 1;
        continue;
      }
      if (t.kind !== 'word' && t.kind !== 'str') throw policyError(`unexpected "${t.value}"`);
      pos += 1;
      const labels: string[] = [];
      while (peek()?.kind === 'str') labels.push((tokens[pos++] as { value: string }).value);
      const next = peek();
      if (next?.kind === 'punct' && (next.value === '=' || next.value === ':')) {
        pos += 1;
        body[t.value] = parseValue();
      } else if (next?.kind === 'punct' && next.value === '{') {
        pos += 1;
        const block = parseBody('}');
        // A labelled block `path "x" { … }` is stored as body.path["x"] = { … }.
        let target = body;
        const keys = [t.value, ...labels];
        keys.slice(0, -1).forEach((key) => {
          const existing = target[key];
          const child: HclObject = isRecord(existing) ? (existing as HclObject) : {};
          target[key] = child;
          target = child;
        });
        target[keys.at(-1) as string] = block;
      } else {
        throw policyError(`expected "=" or a block after "${t.value}"`);
      }
    }
  };
  const root = parseBody(undefined);
  const blocks: { name: string; labels: string[]; body: HclObject }[] = [];
  for (const [name, value] of Object.entries(root)) {
    if (!isRecord(value)) throw policyError(`invalid key "${name}"`);
    for (const [label, body] of Object.entries(value)) {
      if (!isRecord(body)) throw policyError(`invalid ${name} "${label}"`);
      blocks.push({ name, labels: [label], body: body as HclObject });
    }
  }
  return blocks;
}

/** Parses an ACL policy (HCL, or the JSON form Vault also accepts) into rules. */
export function parsePolicy(text: string): PolicyRule[] {
  let blocks: { name: string; labels: string[]; body: HclObject }[];
  if (text.trim().startsWith('{')) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw policyError('invalid JSON');
    }
    if (!isRecord(json)) throw policyError('the policy must be an object');
    blocks = [];
    for (const [name, value] of Object.entries(json)) {
      if (!isRecord(value)) throw policyError(`invalid key "${name}"`);
      for (const [label, body] of Object.entries(value)) {
        if (!isRecord(body)) throw policyError(`invalid ${name} "${label}"`);
        blocks.push({ name, labels: [label], body: body as HclObject });
      }
    }
  } else {
    blocks = parseHcl(text);
  }
  const rules: PolicyRule[] = [];
  for (const block of blocks) {
    if (block.name !== 'path') throw policyError(`invalid key "${block.name}"`);
    const pattern = trimSlashesStart(block.labels[0] ?? '');
    const caps = new Set<string>();
    const listed = block.body.capabilities;
    if (listed !== undefined) {
      if (!Array.isArray(listed))
        throw policyError(`path "${pattern}": capabilities must be a list`);
      for (const cap of listed) {
        const name = String(cap).toLowerCase();
        if (!CAPABILITIES.has(name)) {
          throw policyError(`path "${pattern}": invalid capability "${String(cap)}"`);
        }
        caps.add(name);
      }
    }
    const legacy = block.body.policy;
    if (typeof legacy === 'string') {
      const mapped = LEGACY_POLICY[legacy.toLowerCase()];
      if (!mapped) throw policyError(`path "${pattern}": invalid policy "${legacy}"`);
      for (const c of mapped) caps.add(c);
    }
    rules.push({ pattern, capabilities: caps });
  }
  return rules;
}

export function trimSlashesStart(path: string): string {
  return path.replace(/^\/+/, '');
}

/** Whether a policy path pattern covers `path` (`*` a trailing glob, `+` one segment). */
function patternMatches(pattern: string, path: string): boolean {
  const glob = pattern.endsWith('*');
  const base = glob ? pattern.slice(0, -1) : pattern;
  if (!base.includes('+')) return glob ? path.startsWith(base) : path === base;
  const want = base.split('/');
  const have = path.split('/');
  if (have.length < want.length || (!glob && have.length !== want.length)) return false;
  return want.every((segment, i) => {
    const actual = have[i] as string;
    if (segment === '+') return true;
    if (glob && i === want.length - 1) return actual.startsWith(segment);
    return actual === segment;
  });
}

/** Vault's priority: is rule pattern `a` lower priority than `b`? (docs: "Priority matching") */
function lowerPriority(a: string, b: string): boolean {
  const firstWild = (p: string) => {
    const i = p.search(/[+*]/);
    return i === -1 ? Number.POSITIVE_INFINITY : i;
  };
  if (firstWild(a) !== firstWild(b)) return firstWild(a) < firstWild(b);
  if (a.endsWith('*') !== b.endsWith('*')) return a.endsWith('*');
  const plus = (p: string) => p.split('/').filter((s) => s === '+').length;
  if (plus(a) !== plus(b)) return plus(a) > plus(b);
  if (a.length !== b.length) return a.length < b.length;
  return a < b;
}

/** The capabilities a set of rules (merged across policies, as Vault merges) grants on `path`. */
export function capabilitiesFor(rules: readonly PolicyRule[], path: string): Set<string> {
  const merged = new Map<string, Set<string>>();
  for (const rule of rules) {
    const caps = merged.get(rule.pattern) ?? new Set<string>();
    for (const c of rule.capabilities) caps.add(c);
    merged.set(rule.pattern, caps);
  }
  let best: string | undefined;
  for (const pattern of merged.keys()) {
    if (!patternMatches(pattern, path)) continue;
    if (best === undefined || lowerPriority(best, pattern)) best = pattern;
  }
  const caps = best === undefined ? new Set<string>() : (merged.get(best) as Set<string>);
  return caps.has('deny') ? new Set(['deny']) : caps;
}

/** What Vault's built-in `default` policy lets every token do (the parts this fake serves). */
export const DEFAULT_POLICY = `
path "auth/token/lookup-self" { capabilities = ["read"] }
path "auth/token/renew-self" { capabilities = ["update"] }
path "auth/token/revoke-self" { capabilities = ["update"] }
path "sys/capabilities-self" { capabilities = ["update"] }
path "sys/internal/ui/resultant-acl" { capabilities = ["read"] }
path "cubbyhole/*" { capabilities = ["create", "read", "update", "delete", "list"] }
`;
