# joulestream's image: the TypeScript is compiled to JavaScript in a build stage; the runtime stage
# has production dependencies only (`npm ci --omit=dev`: no tsx, no TypeScript) and runs the build.
#   docker build -t joulestream:0.1.0 .
#   docker run --rm joulestream:0.1.0 --help
# Checked without a Docker engine by test/docker-image.test.ts, which runs these steps natively.

FROM node:20.20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY services ./services
COPY schemas ./schemas
COPY data ./data
RUN npm run build

FROM node:20.20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY deploy/fleet.demo.yaml ./deploy/fleet.demo.yaml
USER node
ENTRYPOINT ["node", "bin/joulestream.js"]
CMD ["--help"]
