# syntax=docker/dockerfile:1
#
# accessbot in a container: a static binary on a distroless base, running
# as a numeric non-root user, with the database on a volume.
#
#   docker build --build-arg VERSION=v1.2.3 --build-arg COMMIT="$(git rev-parse HEAD)" -t accessbot .
#   docker run --env-file accessbot.env -v accessbot-data:/data \
#     -v "$PWD/policy.yaml:/etc/accessbot/policy.yaml:ro" -p 8080:8080 accessbot
#
# Version of the Go image; go.mod's go line decides the toolchain.
ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
# CGO_ENABLED=0: a static binary that needs no libc in the final image.
# -trimpath keeps build paths out of the binary. .git is not in the build
# context (.dockerignore), so the commit comes from the build argument.
RUN CGO_ENABLED=0 go build -buildvcs=false -trimpath \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/accessbot ./cmd/accessbot \
 && /out/accessbot version \
 && mkdir -p /out/data

# distroless/static has CA certificates (for Slack, GitHub and PostgreSQL
# over TLS), time zone data and a nonroot user, and no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/accessbot /usr/local/bin/accessbot
# The volume's mount point, owned by the user serve runs as, so that a new
# named volume is writable.
COPY --from=build --chown=65532:65532 /out/data /data
ENV ACCESSBOT_DB_PATH=/data/accessbot.db \
    ACCESSBOT_POLICY_FILE=/etc/accessbot/policy.yaml \
    ACCESSBOT_LISTEN_ADDR=:8080
USER 65532:65532
VOLUME ["/data"]
EXPOSE 8080
# The binary probes itself: there is no shell or curl in the image.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["/usr/local/bin/accessbot", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/accessbot"]
CMD ["serve"]
