import { HangarError } from '../../lib/errors.js';

/** A flag value that does not parse: `<flag> <value>: <what was expected>`; exits 2. */
export const badFlag = (flag: string, value: string, expected: string): HangarError =>
  new HangarError('invalid_argument', `${flag} ${value}: ${expected}`, { field: flag });
