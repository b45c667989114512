import { resolve } from 'node:path'
import { defineConfig } from 'vite'

// Builds the viewer into Django's static files (annotator/static/viewer/), with a manifest
// that the viewer page template reads to find the hashed file names.
export default defineConfig({
  base: '/static/viewer/',
  build: {
    outDir: resolve(import.meta.dirname, '../annotator/static/viewer'),
    emptyOutDir: true,
    manifest: true,
    target: 'es2022',
    chunkSizeWarningLimit: 2000,
    rollupOptions: { input: resolve(import.meta.dirname, 'src/main.js') },
  },
})
