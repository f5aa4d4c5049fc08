/**
 * The one parser of control commands: lines written to /.control/command and the arguments of
 * the matching `vdfs` subcommands both become a Command here, so both accept exactly the same.
 *
 *   snapshot create PATH NAME     snapshot of a file, or of every file under a directory
 *   snapshot delete PATH NAME
 *   snapshot list [PATH]
 *   restore PATH NAME             restore a file to its snapshot NAME (incrementally)
 *   verify [PATH]                 verify the snapshot metadata of one file or of all
 *   policy [compress=none|deflate] [level=1..9] [encrypt=on|off] [key-file=/ABS/PATH]
 *                                 show, or change, the codec policy for new blocks
 *   scrub                         read every fragment of the layout, repair what is bad
 *   rebuild                       re-create the fragments of a replaced (empty) target
 *
 * Tokens are separated by blanks; a token with blanks or quotes is written in double quotes
 * with \" and \\ escapes. PATH is relative to the datastore's root (a leading / is allowed).
 */
import { VdfsError } from '../errors.js';
import { LIMITS } from '../limits.js';
import { checkName } from './names.js';
import { hiddenName } from './hidden.js';
import { Compress, COMPRESS_NAMES, LEVEL_MAX, LEVEL_MIN } from '../codec/compress.js';

export type Command =
  | { verb: 'snapshot create' | 'snapshot delete'; path: string; name: string }
  | { verb: 'snapshot list'; path: string }
  | { verb: 'restore'; path: string; name: string }
  | { verb: 'verify'; path: string | null }
  | { verb: 'policy'; change: PolicyChange }
  | { verb: 'scrub' | 'rebuild' };

/** What a policy command changes (absent: unchanged). */
export interface PolicyChange { compress?: Compress; level?: number; encrypt?: boolean; keyFile?: string }

/** Control characters (C0 and DEL): refused in names and paths, blanked when a command is echoed. */
// eslint-disable-next-line no-control-regex
export const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

const bad = (why: string): never => { throw new VdfsError('INVALID', why); };

/** Splits a command line into tokens (see the header for quoting). */
export function tokenize(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < line.length) {
    const c = line[i];
    if (c === ' ' || c === '\t') { i++; continue; }
    let tok = '';
    if (c === '"') {
      for (i++; ; i++) {
        if (i >= line.length) bad('unterminated quote');
        if (line[i] === '"') { i++; break; }
        if (line[i] === '\\') { i++; if (i >= line.length) bad('unterminated quote'); }
        tok += line[i];
      }
      if (i < line.length && line[i] !== ' ' && line[i] !== '\t') bad('a quote must end its token');
    } else {
      while (i < line.length && line[i] !== ' ' && line[i] !== '\t') {
        if (line[i] === '"' || line[i] === '\\') bad('a quote or backslash inside a bare token');
        tok += line[i++];
      }
    }
    out.push(tok);
  }
  return out;
}

/** Quotes tokens so that tokenize() gives them back. */
export function formatCommand(tokens: string[]): string {
  return tokens.map((t) => (t !== '' && /^[^\s"\\]+$/.test(t) ? t : `"${t.replace(/["\\]/g, (m) => '\\' + m)}"`)).join(' ');
}

/** A snapshot name: 1..SNAP_NAME_MAX bytes, printable, no '/', NUL or '..'. */
export function checkSnapName(name: string): string {
  const n = Buffer.byteLength(name);
  if (n === 0) bad('empty snapshot name');
  if (n > LIMITS.SNAP_NAME_MAX) bad(`snapshot name longer than ${LIMITS.SNAP_NAME_MAX} bytes`);
  if (name.includes('/') || name.includes('..')) bad(`snapshot name ${JSON.stringify(name)} contains '/' or '..'`);
  if (CONTROL_CHARS.test(name)) bad('snapshot name contains a control character');
  if (name === '.') bad('snapshot name "." is not allowed');
  return name;
}

/** A path inside the datastore, normalized to /a/b; never leaves it, never names a hidden tree. */
export function checkPath(path: string): string {
  if (path.length === 0) bad('empty path');
  if (Buffer.byteLength(path) > LIMITS.COMMAND_MAX_BYTES) bad('path too long');
  const parts = path.split('/').filter((p) => p.length > 0 && p !== '.');
  if (CONTROL_CHARS.test(path)) bad('path contains a control character');
  for (const p of parts) {
    if (p === '..') bad(`path ${JSON.stringify(path)} leaves the datastore`);
    try { checkName(p); } catch (e) { bad(`bad path ${JSON.stringify(path)}: ${(e as Error).message}`); }
  }
  const norm = '/' + parts.join('/');
  if (hiddenName(norm)) bad(`path ${JSON.stringify(path)} is inside a hidden tree`);
  return norm;
}

function arity(tokens: string[], min: number, max: number, usage: string): void {
  if (tokens.length < min || tokens.length > max) bad(`usage: ${usage}`);
}

export function parseTokens(t: string[]): Command {
  const [verb, sub] = t;
  if (verb === 'snapshot') {
    if (sub === 'create' || sub === 'delete') {
      arity(t, 4, 4, `snapshot ${sub} PATH NAME`);
      return { verb: `snapshot ${sub}`, path: checkPath(t[2]), name: checkSnapName(t[3]) };
    }
    if (sub === 'list') { arity(t, 2, 3, 'snapshot list [PATH]'); return { verb: 'snapshot list', path: t[2] === undefined ? '/' : checkPath(t[2]) }; }
    return bad(`unknown snapshot command ${JSON.stringify(sub ?? '')} (create, delete, list)`);
  }
  if (verb === 'restore') { arity(t, 3, 3, 'restore PATH NAME'); return { verb: 'restore', path: checkPath(t[1]), name: checkSnapName(t[2]) }; }
  if (verb === 'verify') { arity(t, 1, 2, 'verify [PATH]'); return { verb: 'verify', path: t[1] === undefined ? null : checkPath(t[1]) }; }
  if (verb === 'policy') return { verb: 'policy', change: parsePolicy(t.slice(1)) };
  if (verb === 'scrub' || verb === 'rebuild') { arity(t, 1, 1, verb); return { verb }; }
  return bad(`unknown command ${JSON.stringify((verb ?? '').slice(0, LIMITS.COMMAND_ECHO_BYTES))} (snapshot, restore, verify, policy, scrub, rebuild)`);
}

const POLICY_USAGE = 'policy [compress=none|deflate] [level=1..9] [encrypt=on|off] [key-file=/ABS/PATH]';

/** A compression name (`none`, `deflate`) as its id; INVALID otherwise. Also the CLI's check. */
export function checkCompress(v: string): Compress {
  if (!(v in COMPRESS_NAMES)) bad(`compress=${JSON.stringify(v).slice(0, LIMITS.COMMAND_ECHO_BYTES)}: one of ${Object.keys(COMPRESS_NAMES).join(', ')}`);
  return COMPRESS_NAMES[v];
}

/** A compression level LEVEL_MIN..LEVEL_MAX; INVALID otherwise. Also the CLI's check. */
export function checkLevel(v: string): number {
  if (!/^\d+$/.test(v) || Number(v) < LEVEL_MIN || Number(v) > LEVEL_MAX) bad(`level must be ${LEVEL_MIN}..${LEVEL_MAX}`);
  return Number(v);
}

/** key=value settings of a policy command; each at most once. */
function parsePolicy(args: string[]): PolicyChange {
  const c: PolicyChange = {};
  const seen = new Set<string>();
  for (const a of args) {
    const eq = a.indexOf('=');
    const [k, v] = eq > 0 ? [a.slice(0, eq), a.slice(eq + 1)] : [a, ''];
    if (seen.has(k)) bad(`${k} given twice`);
    seen.add(k);
    if (k === 'compress') {
      c.compress = checkCompress(v);
    } else if (k === 'level') {
      c.level = checkLevel(v);
    } else if (k === 'encrypt') {
      if (v !== 'on' && v !== 'off') bad('encrypt must be on or off');
      c.encrypt = v === 'on';
    } else if (k === 'key-file') {
      if (!v.startsWith('/') || Buffer.byteLength(v) > LIMITS.COMMAND_MAX_BYTES) bad('key-file must be an absolute path');
      if (CONTROL_CHARS.test(v)) bad('key-file contains a control character');
      c.keyFile = v;
    } else {
      bad(`usage: ${POLICY_USAGE}`);
    }
  }
  return c;
}

/** Parses the bytes of one write to /.control/command: one line, one command. */
export function parseCommand(bytes: Buffer): Command {
  if (bytes.length > LIMITS.COMMAND_MAX_BYTES + 1) bad(`command longer than ${LIMITS.COMMAND_MAX_BYTES} bytes`);
  const line = bytes.toString('utf8');
  if (!Buffer.from(line, 'utf8').equals(bytes)) bad('command is not valid UTF-8');
  const body = line.endsWith('\n') ? line.slice(0, -1) : line;
  if (body.includes('\n') || body.includes('\r')) bad('one command per write');
  if (body.includes('\0')) bad('command contains NUL');
  const tokens = tokenize(body);
  if (!tokens.length) bad('empty command');
  return parseTokens(tokens);
}
