// Type-aware linting with zero warnings allowed; the pure core may import nothing that does I/O.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

const ioModules = [
  'kafkajs',
  '@clickhouse/client',
  'pino',
  'avsc',
  'p-limit',
  'testcontainers',
  'yaml',
  'fs',
  'node:fs',
  'fs/promises',
  'node:fs/promises',
  'http',
  'node:http',
  'https',
  'node:https',
  'net',
  'node:net',
  'child_process',
  'node:child_process',
  'process',
  'node:process',
];

export default tseslint.config(
  { ignores: ['node_modules/', '.stack/', '.cluster/', 'out/', 'dist/', 'bin/*.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: globals.node,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] },
          ],
        },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['services/core/**/*.ts'],
    ignores: ['services/core/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ioModules.map((name) => ({ name, message: 'The core is pure: do I/O in an adapter.' })),
          patterns: [
            {
              group: ['**/adapters/**', '**/collectors/**', '**/joiner/**'],
              message: 'The core imports only the core.',
            },
          ],
        },
      ],
      'no-restricted-globals': ['error', { name: 'process', message: 'The core reads no environment.' }],
    },
  },
  {
    // Tests assert on rows and records of loose shape; unbound-method flags node:assert helpers.
    files: ['**/*.test.ts', 'test/**/*.ts'],
    rules: { '@typescript-eslint/unbound-method': 'off' },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
);
