#!/bin/bash
# Runs once in the ClickHouse container's first start: the writer may insert into its tables and
# select, the reader may only select (readonly=2 still lets clients set per-query formats).
set -euo pipefail
W=$(cat /run/secrets/clickhouse_writer)
R=$(cat /run/secrets/clickhouse_reader)
clickhouse client --user "$CLICKHOUSE_USER" --password "$(cat /run/secrets/clickhouse_admin)" --multiquery <<SQL
CREATE USER IF NOT EXISTS joulestream_writer IDENTIFIED WITH sha256_password BY '${W}';
CREATE USER IF NOT EXISTS joulestream_reader IDENTIFIED WITH sha256_password BY '${R}' SETTINGS readonly = 2;
-- The writer inserts into the pipeline's own tables only, and reads (rollups recompute from rows);
-- it can drop, alter or create nothing. Grants name tables before migrations create them.
GRANT INSERT ON joulestream.request_energy TO joulestream_writer;
GRANT INSERT ON joulestream.host_ledger TO joulestream_writer;
GRANT INSERT ON joulestream.rollup TO joulestream_writer;
GRANT INSERT ON joulestream.facility_info TO joulestream_writer;
GRANT INSERT ON joulestream.host_info TO joulestream_writer;
-- The cluster profile: a Distributed insert reaches each shard's *_local table as the same user.
GRANT INSERT ON joulestream.request_energy_local TO joulestream_writer;
GRANT INSERT ON joulestream.host_ledger_local TO joulestream_writer;
GRANT INSERT ON joulestream.rollup_local TO joulestream_writer;
GRANT INSERT ON joulestream.facility_info_local TO joulestream_writer;
GRANT INSERT ON joulestream.host_info_local TO joulestream_writer;
GRANT SELECT ON joulestream.* TO joulestream_writer;
GRANT SELECT ON joulestream.* TO joulestream_reader;
SQL
