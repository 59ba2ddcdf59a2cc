// Lint rules: typescript-eslint's recommended set, plus the few that keep code erasable and explicit.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['node_modules/**', '**/fixtures/**', 'artifacts/**', '.tmp/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } }
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { module: 'writable' } }
  },
  {
    // One concept per file: a source file past this many lines is doing two things.
    files: ['packages/*/src/**/*.ts', 'scripts/**/*.ts'],
    rules: { 'max-lines': ['error', { max: 300, skipBlankLines: true, skipComments: true }] }
  },
  {
    files: ['packages/node/src/api/dashboard/**/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: { document: 'readonly', window: 'readonly', fetch: 'readonly', EventSource: 'readonly', Node: 'readonly', uPlot: 'readonly', setTimeout: 'readonly', setInterval: 'readonly', console: 'readonly' }
    }
  },
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': ['error',
        { selector: 'TSEnumDeclaration', message: 'enums are not erasable: use a const object and a union type' },
        { selector: 'TSModuleDeclaration', message: 'namespaces are not erasable' },
        { selector: 'TSParameterProperty', message: 'parameter properties are not erasable' }
      ],
      eqeqeq: ['error', 'always'],
      'prefer-const': 'error'
    }
  }
)
