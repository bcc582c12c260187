/**
 * @module pipelines/discover-main
 * The DAG discovery process: loads the DAGs folder given as its argument and writes what it
 * found as one JSON document ({@link DagBagInfo}) on stdout. Whatever DAG files print while they
 * load goes to stderr, so that it cannot corrupt the document.
 */
import { writeSync } from 'node:fs';
import { dagBagInfo, loadDagBag } from './loader.ts';

const folder = process.argv[2];
if (!folder) {
  process.stderr.write('usage: discover-main <dags folder>\n');
  process.exit(2);
}
process.stdout.write = process.stderr.write.bind(process.stderr) as typeof process.stdout.write;
const bag = await loadDagBag(folder);
writeSync(1, JSON.stringify(dagBagInfo(bag)));
process.exit(0);
