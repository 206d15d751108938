/**
 * Summarises V8 CPU profiles (`--cpu-prof`): self time by function and by module (npm package, Node
 * internals, or the bundle), top N of each. Usage:
 * `node -r @swc-node/register bench/fanout/profile-summary.ts <file.cpuprofile>… [--top 25]`.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function moduleOf(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1];
  if (url.startsWith('node:')) return url;
  if (url.includes('/dist/apps/')) return 'herald bundle (' + url.slice(url.indexOf('/dist/apps/') + 1) + ')';
  return url;
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '25' } },
});
const top = Number(values.top);
const byFn = new Map<string, number>();
const byModule = new Map<string, number>();
let total = 0;
for (const file of positionals) {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const nodes = new Map(p.nodes.map((n) => [n.id, n]));
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    const { functionName, url, lineNumber } = nodes.get(id)!.callFrame;
    if (functionName === '(idle)' || functionName === '(program)') return;
    total += dt;
    const fnKey = `${functionName || '(anonymous)'} ${url ? `${url.replace(/^.*\/(node_modules|dist)\//, '$1/')}:${lineNumber + 1}` : ''}`;
    byFn.set(fnKey, (byFn.get(fnKey) ?? 0) + dt);
    const mod = moduleOf(url, functionName);
    byModule.set(mod, (byModule.get(mod) ?? 0) + dt);
  });
}
const print = (title: string, m: Map<string, number>) => {
  console.log(`\n${title} (self time; ${(total / 1e6).toFixed(1)} s of busy samples, idle excluded)`);
  for (const [k, v] of [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(
      `${((v / total) * 100).toFixed(1).padStart(5)}%  ${(v / 1e6).toFixed(2).padStart(7)} s  ${k}`,
    );
  }
};
print('by module', byModule);
print('by function', byFn);
