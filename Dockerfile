# Multi-stage build: compile the single binary with Bun (from npm, as everywhere else), then
# run it as a non-root user in a small Debian image with /data as its volume.
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json config.example.yaml ./
COPY src ./src
RUN npm run build

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin parrot \
 && mkdir -p /data /etc/parrotrouter && chown parrot:parrot /data
COPY --from=build /src/parrotrouter /usr/local/bin/parrotrouter
COPY packaging/docker-config.yaml /etc/parrotrouter/config.yaml
ENV PARROTROUTER_CONFIG=/etc/parrotrouter/config.yaml
WORKDIR /data
USER parrot
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s CMD ["parrotrouter", "healthcheck"]
ENTRYPOINT ["parrotrouter"]
CMD ["serve"]
