# Build stage: the same `make build` as on a developer's machine.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG REVISION=unknown
ARG BRANCH=unknown
RUN make build VERSION=$VERSION REVISION=$REVISION BRANCH=$BRANCH BUILD_USER=docker

# Runtime stage: static binaries only, run as the unprivileged user nobody.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/bin/autoretouch_exporter /bin/autoretouch_exporter
COPY --from=build /src/bin/autoretouch_demo_api /bin/autoretouch_demo_api
USER 65534:65534
EXPOSE 9867
ENTRYPOINT ["/bin/autoretouch_exporter"]
