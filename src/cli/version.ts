/** airlock's version, as `airlock --version` prints it (kept equal to package.json by a test). */
export const VERSION = '0.1.0';
