// Formats scripts/bench's results (TSV: system, profile, MiB/s, IOPS, CPU s, peak MiB) as two
// Markdown tables: throughput with vdfs's ratio to each peer, and each daemon's CPU and memory.
// Usage: node scripts/bench-table.mjs RESULTS.tsv SIZE_MIB SECS
import { readFileSync } from 'node:fs';

const [file, size, secs] = process.argv.slice(2);
const rows = readFileSync(file, 'utf8').trim().split('\n').map((l) => {
  const [system, profile, mibs, iops, cpu, peak] = l.split('\t');
  return { system, profile, mibs: Number(mibs), iops: Number(iops), cpu, peak };
});
const systems = [...new Set(rows.map((r) => r.system))];
const profiles = [...new Set(rows.map((r) => r.profile))];
const at = (s, p) => rows.find((r) => r.system === s && r.profile === p);
const peers = systems.filter((s) => s !== 'vdfs');
const seq = (p) => p.startsWith('seq');
// Sequential profiles compare MiB/s, random ones IOPS (the same ratio, as the size is fixed).
const figure = (r, p) => (r ? (seq(p) ? `${r.mibs} MiB/s` : `${r.iops} IOPS`) : '—');
const ratio = (p, peer) => {
  const a = at('vdfs', p), b = at(peer, p);
  return a && b ? (a.iops / b.iops).toFixed(2) : '—';
};

const out = [];
out.push(`fio on a ${size} MiB vdisk file (libaio, O_DIRECT; sequential: the whole file once, 16 in flight; random: ${secs} s each)`, '');
out.push(`| profile | ${systems.join(' | ')} | ${peers.map((p) => `vdfs / ${p}`).join(' | ')} |`);
out.push(`|---|${systems.map(() => '---').join('|')}|${peers.map(() => '---').join('|')}|`);
for (const p of profiles) {
  out.push(`| ${p} | ${systems.map((s) => figure(at(s, p), p)).join(' | ')} | ${peers.map((peer) => ratio(p, peer)).join(' | ')} |`);
}
const daemons = systems.filter((s) => s !== 'raw');
out.push('', 'Daemon CPU seconds / peak resident MiB during each profile', '');
out.push(`| profile | ${daemons.join(' | ')} |`);
out.push(`|---|${daemons.map(() => '---').join('|')}|`);
for (const p of profiles) {
  out.push(`| ${p} | ${daemons.map((s) => { const r = at(s, p); return r ? `${r.cpu} s / ${r.peak} MiB` : '—'; }).join(' | ')} |`);
}
console.log(out.join('\n'));
