import { webcrypto, randomBytes, createPrivateKey } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
// @peculiar/x509 resolves its ASN.1 schemas through tsyringe, which needs a Reflect metadata polyfill loaded first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;
/** Leaves live a week and are reissued well before they expire, as Caddy's local CA does (12 h there). */
const LEAF_DAYS = 7;
const RENEW_MS = 2 * DAY_MS;

export interface IssuedCert {
  certPem: string;
  keyPem: string;
  notAfter: Date;
}

/** Writes a file 0600 through a temporary name, so a crash never leaves half a key. */
function writePrivate(path: string, data: string): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, data, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

async function keyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).export({ type: 'pkcs8', format: 'pem' }).toString();
}

async function importKey(pem: string): Promise<CryptoKey> {
  const der = createPrivateKey(pem).export({ type: 'pkcs8', format: 'der' });
  return webcrypto.subtle.importKey('pkcs8', der, ALG, false, ['sign']) as Promise<CryptoKey>;
}

const serial = (): string => {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f; // a positive INTEGER
  return b.toString('hex');
};

/**
 * The node's local certificate authority, as Caddy's local CA and mkcert
 * make: one self-signed ECDSA root made on first start (key 0600 in
 * `<home>/ca/`, certificate at `<home>/ca.pem` for users to trust), and leaf
 * certificates for the node's domains issued on demand, kept in memory and in
 * `<home>/ca/leaves/` (0600) so a restart does not reissue them.
 */
export class LocalCa {
  private key!: CryptoKey;
  private cert!: x509.X509Certificate;
  private readonly leaves = new Map<string, Promise<IssuedCert>>();

  constructor(private readonly home: string) {}

  get certPath(): string {
    return join(this.home, 'ca.pem');
  }

  private get dir(): string {
    return join(this.home, 'ca');
  }

  async init(): Promise<void> {
    mkdirSync(join(this.dir, 'leaves'), { recursive: true, mode: 0o700 });
    const keyPath = join(this.dir, 'root.key');
    if (existsSync(keyPath) && existsSync(this.certPath)) {
      this.key = await importKey(readFileSync(keyPath, 'utf8'));
      this.cert = new x509.X509Certificate(readFileSync(this.certPath, 'utf8'));
      return;
    }
    const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
    const now = Date.now();
    this.cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serial(),
      name: `CN=hangar local CA ${randomBytes(4).toString('hex')}, O=hangar`,
      notBefore: new Date(now - 3600_000),
      notAfter: new Date(now + 3650 * DAY_MS),
      signingAlgorithm: ALG,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    this.key = keys.privateKey;
    // The key first: a certificate without its key would be unusable at the next start.
    writePrivate(keyPath, await keyPem(keys.privateKey));
    writeFileSync(this.certPath, this.cert.toString('pem') + '\n', { mode: 0o644 });
  }

  get caPem(): string {
    return this.cert.toString('pem');
  }

  /** A leaf for `fqdn` (already checked to be one of the node's domains), issued once and reused until near its end. */
  leaf(fqdn: string): Promise<IssuedCert> {
    const cached = this.leaves.get(fqdn);
    if (cached) return cached.then((c) => (c.notAfter.getTime() - Date.now() > RENEW_MS ? c : this.issueAndCache(fqdn, true)));
    return this.issueAndCache(fqdn, false);
  }

  private issueAndCache(fqdn: string, renew: boolean): Promise<IssuedCert> {
    const p = (renew ? this.issue(fqdn) : this.fromDisk(fqdn).then((c) => c ?? this.issue(fqdn))).catch((e: unknown) => {
      this.leaves.delete(fqdn);
      throw e;
    });
    this.leaves.set(fqdn, p);
    return p;
  }

  private leafPath(fqdn: string): string {
    // fqdn is a checked domain name (letters, digits, '-', '.'): safe as a file name.
    return join(this.dir, 'leaves', `${fqdn}.pem`);
  }

  private async fromDisk(fqdn: string): Promise<IssuedCert | undefined> {
    const path = this.leafPath(fqdn);
    if (!existsSync(path)) return undefined;
    const text = readFileSync(path, 'utf8');
    const cert = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(text)?.[0];
    const key = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/.exec(text)?.[0];
    if (!cert || !key) return undefined;
    const parsed = new x509.X509Certificate(cert);
    // A leaf of an earlier CA (the home's CA was replaced) or one near its end is reissued.
    if (parsed.issuer !== this.cert.subject || parsed.notAfter.getTime() - Date.now() <= RENEW_MS) return undefined;
    return { certPem: cert + '\n', keyPem: key + '\n', notAfter: parsed.notAfter };
  }

  private async issue(fqdn: string): Promise<IssuedCert> {
    const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
    const now = Date.now();
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: `CN=${fqdn}`,
      issuer: this.cert.subject,
      notBefore: new Date(now - 3600_000),
      notAfter: new Date(now + LEAF_DAYS * DAY_MS),
      signingAlgorithm: ALG,
      publicKey: keys.publicKey,
      signingKey: this.key,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: fqdn }]),
        await x509.AuthorityKeyIdentifierExtension.create(this.cert),
      ],
    });
    const issued: IssuedCert = { certPem: cert.toString('pem') + '\n', keyPem: await keyPem(keys.privateKey), notAfter: cert.notAfter };
    writePrivate(this.leafPath(fqdn), issued.certPem + issued.keyPem);
    return issued;
  }
}
