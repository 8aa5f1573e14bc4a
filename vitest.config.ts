import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 300_000,
    // Integration tests spawn nats-server, docker-registry and worker pools; two cores only.
    maxWorkers: 2,
    reporters: ['default'],
  },
})
