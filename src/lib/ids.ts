import { randomBytes, randomUUID } from 'node:crypto';

export const newUuid = (): string => randomUUID();

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (s: string): boolean => UUID_RE.test(s);

/** DNS label: lowercase letters, digits and '-', 1..63, not starting or ending with '-'. */
const LABEL_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
export const isDnsLabel = (s: string): boolean => LABEL_RE.test(s);

const WORDS_A = ['amber', 'brisk', 'calm', 'dusty', 'eager', 'fuzzy', 'gentle', 'hazy', 'icy', 'jolly', 'keen', 'lucky', 'misty', 'noble', 'proud', 'quiet', 'rapid', 'shy', 'tidy', 'vivid'];
const WORDS_B = ['otter', 'falcon', 'maple', 'comet', 'harbor', 'lynx', 'pine', 'river', 'ember', 'glacier', 'heron', 'meadow', 'nova', 'quartz', 'sparrow', 'tundra'];

/** A readable random name in the style UKC gives unnamed instances: `<adj>-<noun>-<hex>`. */
export function randomName(): string {
  const b = randomBytes(5);
  const a = WORDS_A[b[0]! % WORDS_A.length]!;
  const n = WORDS_B[b[1]! % WORDS_B.length]!;
  return `${a}-${n}-${b.subarray(2).toString('hex').slice(0, 5)}`;
}

/** Random secret token, URL-safe. */
export const newToken = (): string => randomBytes(32).toString('base64url');
