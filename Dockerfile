# Releaser: runs a project's shared release step once per git commit.
#
#   docker build -t releaser .
#   docker run -v releaser-data:/data -p 8080:8080 \
#     -e RELEASER_GIT_URL=https://github.com/acme/app.git \
#     -e RELEASER_RELEASE_COMMAND='./scripts/release.sh' \
#     -e RELEASER_API_KEY=change-me releaser
#
# The image holds only what releaser.py needs: Python (standard library), git,
# ssh for ssh:// repositories, CA certificates for https ones, and tini. The
# release command runs in this image too, so a release that needs node, a
# database client or anything else needs an image built FROM this one (see
# README, "Any runtime").
FROM python:3.13-slim-trixie

LABEL org.opencontainers.image.title="releaser" \
      org.opencontainers.image.description="Runs a shared release step once per git commit and gates every service's deploy on it"

# Versions are not pinned: Debian replaces a package version in its archive
# when a security update lands, so a pinned version stops installing; the base
# image tag is the pin.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        ca-certificates \
        git \
        openssh-client \
        tini \
    && rm -rf /var/lib/apt/lists/*

# The release command runs as this user (RELEASER_RUN_AS below), not as root:
# PID 1 (tini) and the releaser hold the API key and git credentials, and root
# could read them from /proc; this user cannot, nor the database. Its home is a
# fresh folder per release.
RUN useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin release

COPY releaser.py pre-deploy.sh /app/
RUN chmod 0644 /app/releaser.py && chmod 0755 /app/pre-deploy.sh

# The database lives at $RAILWAY_VOLUME_MOUNT_PATH/database.sqlite on Railway,
# wherever the volume is mounted, and at ./database.sqlite elsewhere; /data is
# the working directory so that "elsewhere" means /data. SQLITE_DB_PATH is
# deliberately not set here: a value baked into the image would win over the
# volume's path and put the history on the container's disk, lost on the next
# deploy, whenever the volume is mounted somewhere other than /data.
#
# No VOLUME instruction: Railway refuses to build a Dockerfile that has one
# ("docker VOLUME ... is not supported, use Railway Volumes"). Attach a Railway
# volume (or `docker run -v NAME:/data`) instead.
WORKDIR /data

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    RELEASER_RUN_AS=release

EXPOSE 8080

# The releaser runs as root, on purpose. Railway mounts volumes owned by root
# after the image is built, so a chown here cannot help, and a non-root USER
# cannot create the database on the volume unless the service sets
# RAILWAY_RUN_UID=0, which runs it as root anyway. Root is also what lets it
# start the release command as the unprivileged user "release" (see above).
# Elsewhere, run it as any user with `docker run --user UID:GID`, a /data that
# user can write, and RELEASER_RUN_AS unset (the release then runs as that user).
#
# Docker's own health check. Railway's deploy check is the service's
# Healthcheck Path setting instead (set it to /healthcheck); its docs do not say
# that it reads this instruction. "localhost" tries ::1 and 127.0.0.1, so this
# works whether the server bound :: or fell back to 0.0.0.0. PORT defaults to
# 8080 in releaser.py as here; Railway sets it at run time.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://localhost:%s/healthcheck' % (os.environ.get('PORT') or '8080'), timeout=3)"]

# tini is PID 1: it forwards SIGTERM to the releaser (which decides how long a
# running release may finish) and reaps processes a release leaves orphaned.
# Without -g, so the signal reaches only the releaser, never a release's own
# process group directly. A custom Start Command on Railway replaces this
# ENTRYPOINT: leave it empty, or start it with "tini --".
ENTRYPOINT ["tini", "--"]
CMD ["python3", "/app/releaser.py"]
