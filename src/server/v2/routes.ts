/**
 * @module server/v2/routes
 * The built-in `/api/v2` operations (Variables, Connections, health, version, config) as one
 * route module; the DAG operations come with the pipelines' route module.
 */
import type { RouteModule } from '../context.ts';
import { registerConnectionsV2 } from './connections.ts';
import { registerMonitorV2 } from './monitor.ts';
import { registerVariablesV2 } from './variables.ts';

/** Registers the built-in `/api/v2` operations on `deps.apiV2`. */
export const apiV2Routes: RouteModule = (_app, deps) => {
  registerVariablesV2(deps.apiV2, deps);
  registerConnectionsV2(deps.apiV2, deps);
  registerMonitorV2(deps.apiV2, deps);
};
