import marimo

__generated_with = "0.25.2"
app = marimo.App()


@app.cell
def _():
    import marimo as mo

    mo.md(
        """
        # pyworkflow_nb quickstart, in marimo

        Durable workflows in a notebook: every step's result is stored in a DuckDB file
        (`.pyworkflow_nb/quickstart_marimo.duckdb` beside this notebook), so restarting the
        notebook loses nothing. marimo has no `%` magics: this notebook uses the Python API.
        """
    )
    return (mo,)


@app.cell
def _():
    import asyncio

    import pyworkflow_nb as pw

    client = pw.SyncClient()
    return asyncio, client, pw


@app.cell
def _(mo):
    mo.md(
        """
        Steps are plain functions whose results are recorded (and retried on failure);
        a workflow is an `async` function that calls them.
        """
    )
    return


@app.cell
def _(asyncio, pw):
    @pw.step
    def fetch(n):
        return {"n": n, "square": n * n}

    @pw.step(max_retries=2, retry_delay="10ms")
    def total(rows):
        return sum(r["square"] for r in rows)

    @pw.workflow
    async def squares(n):
        rows = await asyncio.gather(*(fetch(i) for i in range(n)))
        return await total(rows)

    @pw.workflow
    async def approval(amount):
        decision = await pw.wait_for_event("approved", timeout="1h")
        return f"paid {amount}, approved by {decision['by']}"
    return approval, squares


@app.cell
def _(mo):
    mo.md(
        """
        Start a run and wait for its result. Naming the run (`run_id`) makes re-running the
        cell find the same run instead of computing it again.
        """
    )
    return


@app.cell
def _(client, squares):
    quick = client.start(squares, 4, run_id="quick-1")
    quick.result()
    return (quick,)


@app.cell
def _(quick):
    quick.timeline()
    return


@app.cell
def _(mo):
    mo.md("""The runs table: filter, act on a run, pick one to see its timeline underneath.""")
    return


@app.cell
def _(pw):
    pw.runs_table()
    return


@app.cell
def _(mo):
    mo.md(
        """
        History is data: query the store with SQL (read-only). `$name` binds a value safely.
        """
    )
    return


@app.cell
def _(pw, quick):
    _ = quick  # after the run above
    stats = pw.sql(
        "SELECT name, count(*) AS calls, max(attempts) AS max_attempts "
        "FROM steps WHERE name = $wanted GROUP BY name",
        {"wanted": "fetch"},
    ).df()
    stats
    return


@app.cell
def _(mo):
    mo.md("""A workflow can wait for an outside event, for as long as it takes.""")
    return


@app.cell
def _(approval, client):
    approve = client.start(approval, 120)
    approve.send_event("approved", {"by": "ana"})
    approve.result(timeout="30s")
    return (approve,)


@app.cell
def _(mo):
    mo.md("""A run handle shows its run: live while it goes, its final timeline after.""")
    return


@app.cell
def _(approve):
    approve
    return


if __name__ == "__main__":
    app.run()
