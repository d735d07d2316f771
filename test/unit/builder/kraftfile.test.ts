/** Kraftfile v0.6 / v0.7 parsing: valid variants → the model; invalid files → one line naming the key and the fix. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseKraftfile, splitCommand, stripKernelArgs, inferSourceType, type Kraftfile } from '../../../src/builder/kraftfile.js';
import { HangarError } from '../../../src/lib/errors.js';

const valid: Array<{ name: string; text: string; want: Partial<Kraftfile> }> = [
  {
    name: 'v0.6: runtime + rootfs path + cmd list + env list',
    text: 'spec: v0.6\nruntime: python3\nrootfs: ./Dockerfile\ncmd: ["/usr/bin/python3", "/app/server.py"]\nenv:\n  - PORT=8080\n  - GREETING=a=b\n',
    want: {
      spec: 'v0.6',
      runtime: 'python3',
      rootfs: { source: { type: 'dockerfile', path: './Dockerfile' } },
      cmd: ['/usr/bin/python3', '/app/server.py'],
      env: [['PORT', '8080'], ['GREETING', 'a=b']],
    },
  },
  {
    name: 'v0.6: specification alias, cmd as a string, env map, labels, name',
    text: "specification: '0.6'\nname: my-app\nruntime: base\ncmd: /bin/sh -c 'echo \"hi there\"'\nenv:\n  A: 1\n  B: ''\nlabels:\n  org.example/team: web\n",
    want: { spec: 'v0.6', name: 'my-app', cmd: ['/bin/sh', '-c', 'echo "hi there"'], env: [['A', '1'], ['B', '']], labels: { 'org.example/team': 'web' } },
  },
  {
    name: 'v0.7: long rootfs form with format, roms, targets',
    text: 'spec: v0.7\nruntime: go\nrootfs:\n  source:\n    type: dockerfile\n    path: .\n    dockerfile: ./Dockerfile\n  format: erofs\ntargets:\n  - kraftcloud/x86_64\n  - {plat: qemu, arch: amd64}\n',
    want: {
      spec: 'v0.7',
      rootfs: { source: { type: 'dockerfile', path: '.', dockerfile: './Dockerfile' }, format: 'erofs' },
      targets: [
        { platform: 'kraftcloud', architecture: 'x86_64' },
        { platform: 'qemu', architecture: 'x86_64' },
      ],
    },
  },
  {
    name: 'v0.7: deprecated source string + type, cpio format',
    text: 'spec: v0.7\nruntime: node\nrootfs:\n  source: ./rootfs\n  type: dir\n  format: cpio\n',
    want: { rootfs: { source: { type: 'dir', path: './rootfs' }, format: 'cpio' } },
  },
  {
    name: 'v0.7: ROM-only (no runtime, no rootfs)',
    text: 'spec: v0.7\ntargets: [kraftcloud/x86_64]\nroms: [./fs]\n',
    want: { roms: [{ source: { type: 'dir', path: './fs' } }], targets: [{ platform: 'kraftcloud', architecture: 'x86_64' }] },
  },
  {
    name: 'numeric spec, kernel args before -- dropped from cmd',
    text: 'spec: 0.7\nruntime: base\ncmd: ["vfs.fstab=[ \\"initrd0:/:extract:::\\" ]", "--", "/server", "-v"]\n',
    want: { spec: 'v0.7', cmd: ['/server', '-v'] },
  },
  {
    name: 'rootfs only (static binary, no runtime), outdir',
    text: 'spec: v0.7\nrootfs: ./Containerfile\noutdir: .out\n',
    want: { rootfs: { source: { type: 'dockerfile', path: './Containerfile' } }, outdir: '.out' },
  },
];

const invalid: Array<{ name: string; text: string; message: RegExp }> = [
  { name: 'YAML syntax', text: 'spec: v0.7\nruntime: [base\n', message: /^Kraftfile: line \d+: .* \(fix the YAML syntax\)$/ },
  { name: 'not a mapping', text: '- spec\n- v0.7\n', message: /^Kraftfile: must be a YAML mapping of keys/ },
  { name: 'missing spec', text: 'runtime: base\n', message: /^Kraftfile: key 'spec' is missing \(add 'spec: v0\.7' as the first line\)$/ },
  { name: 'unsupported spec', text: 'spec: v0.5\nruntime: base\n', message: /^Kraftfile: spec 'v0\.5' is not supported by hangar \(use 'spec: v0\.6' or 'spec: v0\.7'\)$/ },
  {
    name: 'libraries',
    text: 'spec: v0.6\nruntime: base\nlibraries:\n  musl: stable\n',
    message: /^Kraftfile: key 'libraries' is not supported by hangar \(remove it; hangar runs prebuilt runtimes\)$/,
  },
  { name: 'unikraft source build', text: 'spec: v0.6\nunikraft: stable\n', message: /^Kraftfile: key 'unikraft' is not supported by hangar \(remove it; .*runtime: base/ },
  { name: 'volumes', text: 'spec: v0.6\nruntime: base\nvolumes: [./data:/data]\n', message: /^Kraftfile: key 'volumes' is not supported by hangar \(remove it; attach volumes/ },
  { name: 'template', text: 'spec: v0.6\ntemplate: app/elfloader:stable\n', message: /^Kraftfile: key 'template' is not supported by hangar/ },
  { name: 'unknown key', text: 'spec: v0.7\nruntime: base\ncommand: [/x]\n', message: /^Kraftfile: unknown key 'command' \(remove it; supported keys: spec, name/ },
  { name: 'roms in v0.6', text: 'spec: v0.6\nroms: [./fs]\n', message: /^Kraftfile: key 'roms' needs spec v0\.7 \(set 'spec: v0\.7'\)$/ },
  { name: 'long rootfs in v0.6', text: 'spec: v0.6\nruntime: base\nrootfs:\n  source: ./Dockerfile\n', message: /^Kraftfile: key 'rootfs' in the long form \{source, format\} needs spec v0\.7/ },
  { name: 'bad rootfs format', text: 'spec: v0.7\nruntime: base\nrootfs:\n  source: ./Dockerfile\n  format: squashfs\n', message: /^Kraftfile: key 'rootfs\.format' must be 'cpio' or 'erofs'$/ },
  { name: 'unsupported rootfs type', text: 'spec: v0.7\nruntime: base\nrootfs: ./initramfs.cpio\n', message: /^Kraftfile: key 'rootfs': source type 'cpio' is not supported by hangar \(use a Dockerfile, a directory, tarball\)$/ },
  { name: 'cmd not strings', text: 'spec: v0.7\nruntime: base\ncmd: {a: 1}\n', message: /^Kraftfile: key 'cmd' must be a string or a list of strings/ },
  { name: 'cmd unterminated quote', text: 'spec: v0.7\nruntime: base\ncmd: "/bin/sh -c \'echo"\n', message: /^Kraftfile: key 'cmd': unterminated single quote \(close the quote/ },
  { name: 'env entry without =', text: 'spec: v0.7\nruntime: base\nenv: [PORT]\n', message: /^Kraftfile: key 'env\[0\]' 'PORT' must be KEY=VALUE/ },
  { name: 'env name invalid', text: 'spec: v0.7\nruntime: base\nenv:\n  1BAD: x\n', message: /^Kraftfile: key 'env' has an invalid variable name '1BAD'/ },
  { name: 'env null value', text: 'spec: v0.7\nruntime: base\nenv:\n  EMPTY:\n', message: /^Kraftfile: key 'env\.EMPTY' has no value/ },
  { name: 'arm64 target', text: 'spec: v0.7\nruntime: base\ntargets: [kraftcloud/arm64]\n', message: /^Kraftfile: key 'targets\[0\]': architecture 'arm64' is not supported by hangar \(this node runs x86_64; use kraftcloud\/x86_64\)$/ },
  { name: 'malformed target', text: 'spec: v0.7\nruntime: base\ntargets: [kraftcloud]\n', message: /^Kraftfile: key 'targets\[0\]' 'kraftcloud' must be plat\/arch/ },
  { name: 'bad name', text: 'spec: v0.7\nname: My App\nruntime: base\n', message: /^Kraftfile: key 'name' 'My App' is not a valid image name/ },
  { name: 'bad label key', text: 'spec: v0.7\nruntime: base\nlabels:\n  "bad key": x\n', message: /^Kraftfile: key 'labels' has an invalid label 'bad key'/ },
  { name: 'nothing to build', text: 'spec: v0.7\nname: x\n', message: /^Kraftfile: nothing to build \(add 'runtime: <name>'/ },
  { name: 'empty cmd', text: 'spec: v0.7\nruntime: base\ncmd: []\n', message: /^Kraftfile: key 'cmd' is empty/ },
  { name: 'duplicate key', text: 'spec: v0.7\nruntime: base\nruntime: go\n', message: /^Kraftfile: line 3: .*(unique|duplicate)/i },
  { name: 'unknown rootfs source field', text: 'spec: v0.7\nruntime: base\nrootfs:\n  source:\n    path: .\n    context: .\n', message: /^Kraftfile: key 'rootfs\.source\.context' is not part of the spec \(remove it\)$/ },
];

describe('Kraftfile: valid files', () => {
  for (const t of valid) {
    it(t.name, () => {
      const kf = parseKraftfile(t.text);
      for (const [k, v] of Object.entries(t.want)) assert.deepEqual(kf[k as keyof Kraftfile], v, k);
    });
  }
});

describe('Kraftfile: invalid files give one line naming the key and the fix', () => {
  for (const t of invalid) {
    it(t.name, () => {
      assert.throws(
        () => parseKraftfile(t.text),
        (e: unknown) => {
          assert.ok(e instanceof HangarError);
          assert.equal(e.kind, 'invalid_argument');
          assert.ok(!e.message.includes('\n'), `one line: ${e.message}`);
          assert.match(e.message, t.message);
          return true;
        },
      );
    });
  }
});

describe('Kraftfile helpers', () => {
  it('splitCommand splits like a shell (quotes, escapes, no expansion)', () => {
    assert.deepEqual(splitCommand(`a  'b c' "d \\"e\\" $f" g\\ h ''`), ['a', 'b c', 'd "e" $f', 'g h', '']);
    assert.throws(() => splitCommand('"open'), /unterminated double quote/);
  });
  it('stripKernelArgs drops kernel parameters before --, keeps an app -- otherwise', () => {
    assert.deepEqual(stripKernelArgs(['netdev.ip=1.2.3.4/24', '--', '/app']), ['/app']);
    assert.deepEqual(stripKernelArgs(['/bin/tool', '--', 'x']), ['/bin/tool', '--', 'x']);
  });
  it('inferSourceType', () => {
    assert.equal(inferSourceType('./Dockerfile'), 'dockerfile');
    assert.equal(inferSourceType('docker/Dockerfile.prod'), 'dockerfile');
    assert.equal(inferSourceType('app.Containerfile'), 'dockerfile');
    assert.equal(inferSourceType('./rootfs/'), 'dir');
    assert.equal(inferSourceType('fs.tar.gz'), 'tarball');
    assert.equal(inferSourceType('init.cpio'), 'cpio');
    assert.equal(inferSourceType('rom.erofs'), 'erofs');
  });
});
