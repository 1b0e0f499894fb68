// The error codes: one list, snake_case, each once; a code not in it does not compile.
import { describe, expect, it } from 'vitest';
import { conflict, ERROR_CODES, GatehouseError, invalidInput } from '../../gateway/errors.js';

describe('error codes', () => {
  it('are snake_case and listed once each', () => {
    const bad = ERROR_CODES.filter((c) => !/^[a-z][a-z0-9]*(_[a-z0-9]+)*$/.test(c));
    expect(bad).toEqual([]);
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
  });

  it('refuse, at compile time, a code that is not in the list', () => {
    const made = [
      conflict('already_decided', 'you have already decided'),
      // @ts-expect-error -- a typo of already_decided
      conflict('allready_decided', 'you have already decided'),
      // @ts-expect-error -- a code nobody declared
      invalidInput('made_up_code', 'no'),
      // @ts-expect-error -- the constructor takes the same list
      new GatehouseError('denied', 'Forbidden', 'no'),
    ];
    // At run time a code is only a string: the list guards the source, the answer carries the code as given.
    expect(made.map((e) => e.toJSON().error.code)).toEqual([
      'already_decided',
      'allready_decided',
      'made_up_code',
      'Forbidden',
    ]);
  });
});
