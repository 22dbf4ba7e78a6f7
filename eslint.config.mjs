// Lint: typescript-eslint's recommended rules over src/ and test/, plus the few habits we keep.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'generated/', 'node_modules/', 'models/', 'deploy/'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      'no-restricted-syntax': ['error', { selector: 'MemberExpression[object.name="describe"][property.name="only"]', message: 'no .only' }, { selector: 'MemberExpression[object.name="it"][property.name="only"]', message: 'no .only' }, { selector: 'MemberExpression[object.name="it"][property.name="skip"]', message: 'no skipped test' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      eqeqeq: ['error', 'smart'],
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      '@typescript-eslint/no-this-alias': ['error', { allowedNames: ['self'] }],
    },
  },
);
