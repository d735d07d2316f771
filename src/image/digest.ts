/** The digest helpers live with the content store (registry/); re-exported for image/ and its tests. */
export { digestFile, digestHex, digestStream, sha256 } from '../registry/digest.js';
