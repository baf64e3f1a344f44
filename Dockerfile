# Posteingang gateway. No build step: tsx (a runtime dependency) runs the TypeScript sources.
FROM node:20-bookworm-slim

ENV NODE_ENV=production
WORKDIR /app

COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY . .

# /data holds the embedded database (without DATABASE_URL), the spool and the lock; owned by the
# unprivileged user so a named volume mounted there is writable.
RUN mkdir -p /data && chown node:node /data
ENV DATA_DIR=/data SMTP_PORT=2525 HTTP_PORT=8080
VOLUME ["/data"]
EXPOSE 2525 8080

USER node

HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.HTTP_PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# One process (no wrapper), so SIGTERM from `docker stop` reaches the gateway, which stops cleanly.
CMD ["node", "--import", "tsx", "src/cli/main.ts", "serve"]
