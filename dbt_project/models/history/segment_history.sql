{#- One row per customer and refresh: the segment each customer had at each as-of date.
    Incremental: a refresh appends its rows; re-running an as-of date deletes that refresh's rows
    first (delete+insert on as_of), so a re-run replaces, never duplicates. The grain is
    (as_of, customer_id), checked through history_key. -#}
{{
    config(
        materialized='incremental',
        unique_key='as_of',
        on_schema_change='append_new_columns',
        **history_incremental_config()
    )
}}

with

customer_rfm as (
    select * from {{ ref('customer_rfm') }}
),

refresh_rows as (
    select
        {{ dbt.concat(["cast(as_of as string)", "'|'", "customer_id"]) }} as history_key,
        as_of,
        customer_id,
        segment,
        rfm_code,
        r_score,
        f_score,
        m_score,
        recency_days,
        frequency,
        monetary
    from customer_rfm
)

select * from refresh_rows
