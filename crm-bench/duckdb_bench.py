"""Times the report SQL in DuckDB, for the report benchmark (src/bin/report_bench.rs).

Usage: python duckdb_bench.py PLAN.json. The plan names the CSV directory, the tables
(name and column definitions, as in SQLite) and the statements of each report. Prints
one note line (DuckDB version and load time), then one JSON line per report:
{"report", "filter", "micros" (median of 5 runs after a warm-up), "rows"}.
"""

import json
import statistics
import sys
import time

import duckdb


def main() -> None:
    with open(sys.argv[1]) as file:
        plan = json.load(file)
    db = duckdb.connect(":memory:")
    started = time.perf_counter()
    for table, columns in plan["tables"]:
        db.execute(f"CREATE TABLE {table} ({columns})")
        db.execute(f"COPY {table} FROM '{plan['csv_dir']}/{table}.csv' (HEADER, NULL '')")
    print(f"DuckDB {duckdb.__version__}, tables loaded from CSV in {time.perf_counter() - started:.1f} s")
    for query in plan["queries"]:
        rows = 0

        def run() -> None:
            nonlocal rows
            rows = sum(len(db.execute(statement).fetchall()) for statement in query["statements"])

        run()
        times = []
        for _ in range(5):
            started = time.perf_counter()
            run()
            times.append(time.perf_counter() - started)
        print(json.dumps({"report": query["report"], "filter": query["filter"],
                          "micros": statistics.median(times) * 1e6, "rows": rows}))


if __name__ == "__main__":
    main()
