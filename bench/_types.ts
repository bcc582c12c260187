/** What every scenario gets. */
export interface ScenarioOptions {
  /** Smaller counts, so that the whole `--quick` run stays under a minute. */
  quick: boolean;
}
