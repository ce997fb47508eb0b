# syntax=docker/dockerfile:1
#
# One image per Zenith binary. PACKAGE names the main package to build:
#
#   docker build --build-arg PACKAGE=./services/ingestor/cmd/ingestor -t zenith/ingestor .
#   docker build --build-arg PACKAGE=./services/rule-engine/cmd/rule-engine -t zenith/rule-engine .
#   docker build --build-arg PACKAGE=./services/dispatcher/cmd/dispatcher -t zenith/dispatcher .
#   docker build --build-arg PACKAGE=./cmd/zenith-migrate -t zenith/migrate .
#
# The binary is static (no cgo) and runs as the distroless nonroot user
# (65532) with nothing else in the image but zenith-healthcheck, which
# container health checks run since there is no shell. Every image starts
# its binary as /usr/local/bin/zenith.

ARG GO_VERSION=1.26.8

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0

# The workspace's module files first: the download layer is then reused
# until a dependency changes. Every module go.work uses must be listed here.
COPY go.work go.work.sum ./
COPY cmd/go.mod cmd/go.sum cmd/
COPY migrations/go.mod migrations/
COPY pkg/go.mod pkg/go.sum pkg/
COPY services/dispatcher/go.mod services/dispatcher/go.sum services/dispatcher/
COPY services/ingestor/go.mod services/ingestor/go.sum services/ingestor/
COPY services/rule-engine/go.mod services/rule-engine/go.sum services/rule-engine/
COPY tools/go.mod tools/go.sum tools/
COPY tools/peerbench/go.mod tools/peerbench/go.sum tools/peerbench/
RUN --mount=type=cache,target=/go/pkg/mod go mod download

COPY . .
ARG PACKAGE
ARG TARGETOS
ARG TARGETARCH
RUN test -n "$PACKAGE" || { echo 'set --build-arg PACKAGE=./services/<name>/cmd/<name>' >&2; exit 1; }
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -ldflags='-s -w' -o /out/zenith "$PACKAGE" && \
    GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -ldflags='-s -w' -o /out/zenith-healthcheck ./cmd/zenith-healthcheck

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/zenith /out/zenith-healthcheck /usr/local/bin/
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/zenith"]
