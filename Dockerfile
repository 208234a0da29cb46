# egress on the embedded demo default. Loopback-only inside the container unless configured:
# mount an egress.toml (server.host = "0.0.0.0"; flight.host and http.host follow it) to publish it.
# The wheel is built where a C compiler is (the wire encoders' row assembler, gateway/_rows.c);
# the image that runs it has none.
FROM python:3.11 AS build
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY gateway ./gateway
COPY flight ./flight
COPY sql ./sql
COPY views ./views
COPY exporters ./exporters
COPY schedules ./schedules
COPY service ./service
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-dejavu-core=2.37-* \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 egress
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels

USER 10001
ENV EGRESS_HOME=/home/egress/.egress
WORKDIR /home/egress
# PostgreSQL wire, Arrow Flight SQL, signed downloads
EXPOSE 5433 8815 8817
ENTRYPOINT ["egress"]
CMD ["serve"]
