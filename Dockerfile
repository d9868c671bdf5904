# splitgate: build with the dev toolchain, run with production dependencies only.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY config/example.yaml /etc/splitgate/splitgate.yaml
# Runtime state (operator weights, kill switches, rollout progress) must survive a restart: /app is root's, so the
# state lives in a directory of its own, owned by the user splitgate runs as, and is a volume. The shipped config
# reads its path from SPLITGATE_STATE_FILE.
RUN mkdir -p /var/lib/splitgate && chown node:node /var/lib/splitgate
ENV SPLITGATE_STATE_FILE=/var/lib/splitgate/state.json
VOLUME /var/lib/splitgate
USER node
EXPOSE 8080 9901
ENTRYPOINT ["node", "dist/bin.js"]
CMD ["--config", "/etc/splitgate/splitgate.yaml"]
