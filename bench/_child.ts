/**
 * Runs one scenario in its own process (so its peak RSS is its own) and prints its metrics as
 * one JSON line: `node bench/_child.ts <scenario> [--quick]`.
 */
const [name, ...flags] = process.argv.slice(2);
const quick = flags.includes('--quick');
const module = (await import(
  name === 'server' ? '../bench/server.ts' : `./scenarios/${name}.ts`
)) as {
  run?: (o: { quick: boolean }) => Promise<Record<string, number>>;
  runServerBench?: (o: { quick: boolean }) => Promise<Record<string, number>>;
};
const run = module.run ?? module.runServerBench;
if (!run) throw new Error(`bench scenario ${name} exports no run()`);
const metrics = await run({ quick });
metrics.peak_rss_mb = Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10;
process.stdout.write(`\n${JSON.stringify(metrics)}\n`);
process.exit(0);
