# One image for every meshfed process; docker-compose.yml picks the daemon by command.
FROM node:20-bookworm-slim
WORKDIR /meshfed
COPY package.json package-lock.json tsconfig.json tsconfig.base.json ./
COPY packages ./packages
COPY proto ./proto
RUN npm ci && npm run build && npm prune --omit=dev
ENV NODE_ENV=production
