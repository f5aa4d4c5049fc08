# vdfs in a container: Node 20 on Debian 12, libfuse2 + fuse, mount(8) for the kernel binding,
# the built project; the entry mounts the datastore in /var/lib/vdfs at /mnt/vdfs (making one
# first if there is none). The kernel binding mounts with mount(2): the container needs SYS_ADMIN.
FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends fuse libfuse2 mount \
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
