// Lint: typescript-eslint's type-aware-free recommended rules (pure JS, so `npm ci` works on every platform;
// Biome was dropped because its platform binaries are not all on the registry this project installs from).
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'test-results/**', 'recordings/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
      'no-control-regex': 'off',
    },
  },
  { files: ['web/**/*.ts'], languageOptions: { globals: { ...globals.browser } } },
  // Type-aware, for the gateway: a promise nobody awaits or catches becomes an unhandled rejection, and one
  // of those (a refused write on a full disk) used to take the whole gateway, and every session, down. `void p`
  // is no excuse either: that is how the one that did it was written.
  {
    files: ['gateway/**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: { '@typescript-eslint/no-floating-promises': ['error', { ignoreVoid: false }] },
  },
  // Tests feed deliberately malformed values to the code under test.
  { files: ['test/**/*.ts'], rules: { '@typescript-eslint/no-explicit-any': 'off' } },
);
