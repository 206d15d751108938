// The reference client SDK for browsers and bundlers: `vite build libs/gateway-client` writes
// dist/gateway-client/herald-gateway.es.js (an ES module) and herald-gateway.iife.js (a
// <script> tag defines `HeraldGateway`), the protocol's client part included. The protocol lib's
// zod schemas (schemas.ts, for the gateway) are declared free of side effects, so the bundle drops
// them and zod with them.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const at = (path) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  resolve: { alias: { '@herald/gateway-protocol': at('../gateway-protocol/src/index.ts') } },
  build: {
    rolldownOptions: {
      treeshake: { moduleSideEffects: (id) => !id.endsWith('/gateway-protocol/src/schemas.ts') },
    },
    outDir: at('../../dist/gateway-client'),
    emptyOutDir: true,
    sourcemap: true,
    target: 'es2020',
    lib: {
      entry: at('src/index.ts'),
      name: 'HeraldGateway',
      formats: ['es', 'iife'],
      fileName: (format) => `herald-gateway.${format}.js`,
    },
  },
});
