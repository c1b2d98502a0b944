{#- One row per segment (and the overall 'All' row) and refresh: the KPIs of each refresh, which
    the KPI-drop sensor compares. Incremental like segment_history: re-running an as-of date
    replaces its rows. The grain is (as_of, segment), checked through history_key. -#}
{{
    config(
        materialized='incremental',
        unique_key='as_of',
        on_schema_change='append_new_columns',
        **history_incremental_config()
    )
}}

with

segment_kpis as (
    select * from {{ ref('segment_kpis') }}
),

refresh_rows as (
    select
        {{ dbt.concat(["cast(as_of as string)", "'|'", "segment"]) }} as history_key,
        as_of,
        segment,
        customers,
        share,
        revenue,
        revenue_share,
        orders,
        avg_basket,
        avg_frequency,
        avg_recency_days,
        return_rate,
        tickets_per_customer,
        nps,
        nps_responses,
        churned_customers,
        churn_rate
    from segment_kpis
)

select * from refresh_rows
