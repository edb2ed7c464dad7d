// Type-aware linting with zero warnings allowed; the pure core may import nothing that does I/O.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

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
  // Purity by allowlist: the core imports only the core. Whatever is not a relative path inside
  // services/core (a package, node:*, config, adapters, chaos) is refused, so a new I/O module
  // cannot slip in by not being on a list; one block per folder depth, since a relative path that
  // climbs out of the core is only recognisable by how many levels it climbs.
  ...[
    ['services/core/*.ts', '^\\.\\./'],
    ['services/core/*/*.ts', '^(\\.\\./){2}'],
    ['services/core/*/*/*.ts', '^(\\.\\./){3}'],
  ].map(([files, climbsOut]) => ({
    files: [files],
    ignores: ['services/core/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!\\.{1,2}/)',
              message: 'The core is pure: it imports only the core (do I/O in an adapter).',
            },
            { regex: climbsOut, message: 'The core imports only the core.' },
          ],
        },
      ],
      // The core's clock is injected and it reads no environment: the caller passes time in.
      'no-restricted-globals': [
        'error',
        ...[
          'process',
          'Date',
          'setTimeout',
          'setInterval',
          'setImmediate',
          'clearTimeout',
          'clearInterval',
          'fetch',
          'performance',
          'queueMicrotask',
        ].map((name) => ({
          name,
          message: 'The core is pure: time, timers, I/O and the environment come from the caller.',
        })),
      ],
    },
  })),
  {
    // The joiner's logic reads time only through its injected Clock (services/joiner/clock.ts).
    files: ['services/joiner/**/*.ts'],
    ignores: ['services/joiner/**/*.test.ts'],
    rules: {
      'no-restricted-globals': [
        'error',
        ...['Date', 'setTimeout', 'setInterval', 'clearTimeout', 'clearInterval'].map((name) => ({
          name,
          message: 'The joiner reads time through its Clock; adapters/system-clock.ts reads the real one.',
        })),
      ],
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
