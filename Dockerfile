# vdfs in a container: Node 20 on Debian 12, libfuse2 + fuse, the built project; the entry
# mounts the datastore in /var/lib/vdfs at /mnt/vdfs (making one first if there is none).
FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends fuse libfuse2 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/vdfs
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY bin ./bin
COPY src ./src
COPY test ./test
RUN npm run build && npm prune --omit=dev
COPY scripts/docker-entrypoint ./scripts/docker-entrypoint
VOLUME ["/var/lib/vdfs"]
ENTRYPOINT ["/opt/vdfs/scripts/docker-entrypoint"]
