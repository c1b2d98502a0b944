{#- Everything that differs between the DuckDB and the Spark target lives here, behind
    adapter.dispatch: the models only call these macros (and dbt's own cross-database macros), so
    the same SQL builds on both engines. See docs/spark.md (what differs, and the portable forms). -#}


{#- on-run-start hook: make the sources (clean.*, identity.*) readable on the target.

    DuckDB reads them in place in the warehouse file: nothing to do. On Spark they are Parquet
    files exported by Python (pipeline.segments.spark.export_clean_parquet) under the var
    `spark_parquet_root` (<root>/<source>/<table>/), registered as external tables. -#}
{% macro create_spark_sources() -%}
    {{ return(adapter.dispatch('create_spark_sources')()) }}
{%- endmacro %}

{% macro default__create_spark_sources() -%}
    {{ return('') }}
{%- endmacro %}

{% macro spark__create_spark_sources() -%}
    {%- if execute -%}
        {%- set root = var('spark_parquet_root', env_var('SEGMENTS_SPARK_PARQUET', '')) -%}
        {%- if not root -%}
            {{ exceptions.raise_compiler_error(
                "the spark target needs the var spark_parquet_root (or $SEGMENTS_SPARK_PARQUET): "
                ~ "the folder written by pipeline.segments.spark.export_clean_parquet") }}
        {%- endif -%}
        {#- Only the tables Python exported (var list of "schema.table"); default: every source. -#}
        {%- set exported = var('spark_parquet_tables', none) -%}
        {%- set schemas = [] -%}
        {%- for node in graph.sources.values() -%}
            {%- set qualified = node.schema ~ '.' ~ node.name -%}
            {%- if exported is none or qualified in exported -%}
                {%- if node.schema not in schemas -%}
                    {%- do schemas.append(node.schema) -%}
                    {%- do run_query('create schema if not exists ' ~ node.schema) -%}
                {%- endif -%}
                {#- Drop + create (not "if not exists"): the export may have new columns. The
                    tables are external (explicit location): dropping never deletes the files. -#}
                {%- do run_query('drop table if exists ' ~ qualified) -%}
                {%- do run_query(
                    'create table ' ~ qualified ~ ' using parquet location '
                    ~ "'" ~ root ~ '/' ~ node.schema ~ '/' ~ node.name ~ "'") -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return('') }}
{%- endmacro %}


{#- Materialization config of the incremental history tables (one slice per as_of refresh,
    re-running a date replaces its slice).

    DuckDB: delete+insert on as_of. Spark (Parquet tables, no MERGE): the table is partitioned
    by as_of and insert_overwrite replaces exactly the partitions present in the new rows (dbt-spark
    sets partitionOverwriteMode = dynamic), which is the same contract. Note that Spark stores the
    partition column last. Use: config(materialized='incremental', unique_key='as_of',
    **history_incremental_config()); unique_key only serves DuckDB. `partition_column` names the
    slice when it is not as_of (kpi_monitor: one slice per monitoring run, monitor_id).
-#}
{% macro history_incremental_config(partition_column='as_of') -%}
    {{ return(adapter.dispatch('history_incremental_config')(partition_column)) }}
{%- endmacro %}

{% macro default__history_incremental_config(partition_column) -%}
    {{ return({'incremental_strategy': 'delete+insert'}) }}
{%- endmacro %}

{% macro spark__history_incremental_config(partition_column) -%}
    {{ return({
        'incremental_strategy': 'insert_overwrite',
        'partition_by': [partition_column],
        'file_format': 'parquet',
    }) }}
{%- endmacro %}


{#- Seeds on Spark: dbt-spark's session connection pastes seed values into the SQL between quotes
    without escaping them, so "Can't Lose Them" or "l'accès" break the insert. This override of
    dbt-spark's spark__load_csv_rows (the root project's version wins the dispatch) writes escaped
    literals itself and sends no bindings; the column types still come from column_types. -#}
{% macro spark__load_csv_rows(model, agate_table) %}
    {%- set column_override = model['config'].get('column_types', {}) -%}
    {%- set statements = [] -%}
    {%- for chunk in agate_table.rows | batch(get_batch_size()) -%}
        {%- set sql -%}
            insert into {{ this.render() }} values
            {% for row in chunk -%}
                ({%- for col_name in agate_table.column_names -%}
                    {%- set inferred_type = adapter.convert_type(agate_table, loop.index0) -%}
                    {%- set type = column_override.get(col_name, inferred_type) -%}
                    cast({{ spark_seed_literal(row[loop.index0]) }} as {{ type }})
                    {%- if not loop.last %}, {% endif -%}
                {%- endfor -%})
                {%- if not loop.last %},{% endif %}
            {% endfor %}
        {%- endset -%}
        {%- do adapter.add_query(sql, abridge_sql_log=True) -%}
        {%- if loop.first -%}{%- do statements.append(sql) -%}{%- endif -%}
    {%- endfor -%}
    {{ return(statements[0] if statements else '') }}
{% endmacro %}

{#- A Spark SQL literal for one seed value: null, a bare number or boolean, else a quoted string
    (backslash and quote escaped, Spark string literals use backslash escapes). -#}
{% macro spark_seed_literal(value) -%}
    {%- if value is none -%}
        null
    {%- elif value is sameas true or value is sameas false -%}
        {{ 'true' if value else 'false' }}
    {%- elif value is number -%}
        {{ value }}
    {%- else -%}
        '{{ value | string | replace("\\", "\\\\") | replace("'", "\\'") }}'
    {%- endif -%}
{%- endmacro %}


{#- `amount / divisor` rounded to cents, half away from zero, as decimal(18, 2): the same on every
    engine. round() of a double is not: for 154.73 / 2 (= 77.365, stored as 77.36499...) DuckDB
    rounds the binary value down to 77.36 while Spark rounds its decimal string up to 77.37. Here
    the rounding happens on whole cents (integers, exact in a double below 2^53): cents =
    floor((2 * |amount| * 100 + divisor) / (2 * divisor)), sign restored, then scaled by 0.01 in
    decimal arithmetic. `amount` is a decimal with at most 2 places, `divisor` a positive integer. -#}
{% macro divide_to_cents(amount, divisor) -%}
    cast(
        cast(
            sign(cast({{ amount }} as double))
            * floor(
                (2 * cast(abs({{ amount }}) * 100 as double) + cast({{ divisor }} as double))
                / (2 * cast({{ divisor }} as double))
            )
            as decimal(18, 0)
        ) * 0.01
        as decimal(18, 2)
    )
{%- endmacro %}


{#- segment_transitions and customer_segment_changes: incremental per pair of refreshes where the
    engine can delete rows (DuckDB: the pre-hook deletes the stale pairs, the model appends the
    pairs missing), so a monthly refresh computes one pair instead of the whole history. Spark's
    Parquet tables cannot delete rows: there they are rebuilt in full, as before. -#}
{% macro refresh_pairs_config() -%}
    {{ return(adapter.dispatch('refresh_pairs_config')()) }}
{%- endmacro %}

{% macro default__refresh_pairs_config() -%}
    {{ return({
        'materialized': 'incremental',
        'incremental_strategy': 'append',
        'on_schema_change': 'append_new_columns',
        'pre_hook': '{{ delete_stale_refresh_pairs() }}',
    }) }}
{%- endmacro %}

{% macro spark__refresh_pairs_config() -%}
    {{ return({'materialized': 'table'}) }}
{%- endmacro %}
