export { default } from './tools/eslint/eslint.config.mjs';
