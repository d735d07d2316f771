/**
 * The build side of hangar, for the CLI (`build`, `pkg`, `deploy`):
 *
 *   buildProject(dir, opts)   folder with Kraftfile/Dockerfile → OCI layout (+ EROFS/CPIO rootfs, oci-archive)
 *   pkg(opts)                 an OCI layout or ROM folders → OCI layout (ROM-only packages, --rootfs-type)
 *   ensureRuntime(name, opts) the catalog runtime image, built and cached on first use
 *   runtimeLayout(name, opts) its OCI layout directory (to push to the node's registry)
 *   parseKraftfile / loadKraftfile
 */
export { buildProject, type BuildOptions, type BuildResult } from './build.js';
export { pkg, parseImageName, PACKAGE_FORMATS, type PkgOptions, type PkgResult, type RomLayer } from './pkg.js';
export { ensureRuntime, runtimeLayout, runtimeRef, resolveRuntimeName, defaultCacheDir, RUNTIME_NAMES, type RuntimeImage, type RuntimeName, type RuntimeOptions } from './base-images.js';
export { parseKraftfile, loadKraftfile, KRAFTFILE_NAMES, type Kraftfile, type FsSpec, type RootfsFormat, type Target } from './kraftfile.js';
export type { BuildEvent, BuildPhase, ProgressFn } from './events.js';
export type { RegistryAuth } from './buildah.js';
