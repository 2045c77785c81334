import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { apiRequestSchemas } from '../protocol/api.js';
import { roleTableMarkdown, VERB_ROLES } from './roles.js';

describe('the role table', () => {
  it('has a row for every API verb', () => {
    expect(Object.keys(VERB_ROLES).sort()).toEqual(Object.keys(apiRequestSchemas).sort());
  });

  it('is printed in the README exactly as `ferry operator roles` prints it', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    expect(readme, 'README.md: paste the table `ferry operator roles` prints').toContain(`\n${roleTableMarkdown()}\n`);
  });
});
