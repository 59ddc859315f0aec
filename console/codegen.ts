// GraphQL types for the console, generated from the server's SDL (../schema.graphql).
// `npm run codegen` rewrites src/gql/; `npm run codegen:check` fails when it is stale, and
// `vue-tsc` fails when an operation no longer matches the schema.
import type { CodegenConfig } from '@graphql-codegen/cli'

const config: CodegenConfig = {
  schema: '../schema.graphql',
  documents: ['src/**/*.ts', 'src/**/*.vue', '!src/gql/**/*'],
  ignoreNoDocuments: false,
  generates: {
    'src/gql/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        useTypeImports: true,
        enumsAsTypes: true,
        skipTypename: false,
        // BigInt (byte counts) and Decimal (money) travel as strings; DateTime is RFC 3339.
        scalars: {
          BigInt: { input: 'string | number', output: 'string' },
          Decimal: 'string',
          DateTime: 'string',
          JSON: 'unknown',
        },
      },
    },
  },
}

export default config
