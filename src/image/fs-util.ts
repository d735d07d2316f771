/** The filesystem helpers live with the content store (registry/); re-exported for image/. */
export { atomicWriteFile, fsyncPath, isStaleTemp, tempName, writeAll, writeNewFile } from '../registry/fs-util.js';
