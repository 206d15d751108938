import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

/**
 * The console is served by the api under /console (apps/api/src/console.static.ts), so every asset
 * URL carries that base. `vite build apps/console` writes dist/console beside the app bundles.
 * `vite apps/console` serves it for development, proxying the api on HERALD's default port.
 */
export default defineConfig({
  base: '/console/',
  plugins: [react()],
  build: { outDir: '../../dist/console', emptyOutDir: true, sourcemap: true, target: 'es2022' },
  server: {
    proxy: { '/dashboard': 'http://127.0.0.1:3000', '/v3': 'http://127.0.0.1:3000' },
  },
});
