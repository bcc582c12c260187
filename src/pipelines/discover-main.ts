/**
 * @module pipelines/discover-main
 * The DAG discovery process: loads the DAGs folder given as its argument and hands what it
 * found ({@link DagBagInfo}) to its supervisor over its channel (or, started without one, as
 * one JSON document on stdout). A DAG file's top-level `Variable.get` asks the supervisor, which
 * masks the import errors with what it answered. Whatever DAG files print goes to stderr.
 */
import { writeSync } from 'node:fs';
import { SecretsMasker } from '../masking/masker.ts';
import { setTaskRuntime } from './context.ts';
import { dagBagInfo, loadDagBag } from './loader.ts';
import {
  connectToSupervisor,
  openSupervisorChannel,
  releaseSupervisorChannel,
} from './supervised.ts';

const folder = process.argv[2];
if (!folder) {
  process.stderr.write('usage: discover-main <dags folder>\n');
  process.exit(2);
}
const masker = new SecretsMasker();
const supervised = connectToSupervisor(masker);
if (supervised) setTaskRuntime({ resolver: supervised, masker });
process.stdout.write = process.stderr.write.bind(process.stderr) as typeof process.stdout.write;
const bag = dagBagInfo(await loadDagBag(folder));
if (supervised) {
  openSupervisorChannel()?.send({ type: 'airlock:dagbag', bag });
  await releaseSupervisorChannel();
  process.exit(0);
} else {
  writeSync(1, JSON.stringify(bag));
  process.exit(0);
}
