{#- KPIs between refreshes, measured like with like (docs/automation.md). Built only by the
    monitoring job, after it ingested the landing as of today (var as_of), never by a refresh.
    Population: the customers scored by the last published refresh (var
    monitor_published_as_of), in their published segment, and overall (overall_label(),
    'All'). One row per monitoring run (var monitor_id), basis and segment:

    * basis 'published': churn and NPS at the published as-of date, recomputed on today's data.
      On unchanged data they equal the published kpi_history row; a difference is a change of
      the data itself (late answers, cancelled orders), never of the date.
    * basis 'since_published': NPS of the answers received since the last refresh: those of the
      landing files it did not read (var monitor_new_files), dated up to today.
    * basis 'today': churn and NPS at today's date, for reading; churn moves with the date alone,
      so the KPI-drop sensor never compares it with the published figure. -#}
{{
    config(
        materialized='incremental',
        unique_key='monitor_key',
        on_schema_change='append_new_columns',
        **history_incremental_config(partition_column='monitor_id')
    )
}}

{#- The monitoring job passes these vars; a plain `dbt build` (no published refresh named) builds
    the table empty rather than failing. -#}
{%- set monitoring = run_var('monitor_published_as_of', '') != '' -%}
{%- set published_as_of = run_var('monitor_published_as_of', '') or '1900-01-01' -%}
{%- set new_files = run_var('monitor_new_files', []) -%}

-- The monitoring job ingests first: these make the clean tables direct parents, so Dagster
-- runs this model after the ingest steps of the same run (the staging views are not in the job).
-- depends_on: {{ source('clean', 'orders') }}
-- depends_on: {{ source('clean', 'nps_responses') }}

with

orders as (
    select * from {{ ref('stg_orders') }}
),

nps_responses as (
    select * from {{ ref('stg_nps_responses') }}
),

segment_history as (
    select * from {{ ref('segment_history') }}
),

kpi_history as (
    select * from {{ ref('kpi_history') }}
),

published_customers as (
    select
        customer_id,
        segment
    from segment_history
    where as_of = cast('{{ published_as_of }}' as date)
),

customer_groups as (
    select customer_id, segment as kpi_segment from published_customers
    union all
    select customer_id, {{ overall_label() }} as kpi_segment from published_customers
),

bases as (
    select
        'published' as basis,
        cast(null as date) as basis_start,
        cast('{{ published_as_of }}' as date) as basis_end
    union all
    select
        'since_published' as basis,
        cast('{{ published_as_of }}' as date) as basis_start,
        {{ as_of_date() }} as basis_end
    union all
    select
        'today' as basis,
        cast(null as date) as basis_start,
        {{ as_of_date() }} as basis_end
),

{# Last qualifying order per customer up to each basis date (inside the lookback window). -#}
-- A jinja `if` inside a condition defeats sqlfluff's indent check: -- noqa: disable=LT02
last_orders as (
    select
        bases.basis,
        orders.customer_id,
        max(orders.order_date) as last_order_date
    from bases
    inner join orders
        on
            orders.is_qualifying
            and orders.order_date <= bases.basis_end
            {%- if run_var('lookback_days') | int > 0 %}
            and orders.order_date > cast(
                {{ dbt.dateadd('day', -(run_var('lookback_days') | int), 'bases.basis_end') }}
                as date
            )
            {%- endif %}
    where bases.basis <> 'since_published'
    group by bases.basis, orders.customer_id
),
-- noqa: enable=LT02

{# A published customer without a qualifying order up to the basis (cancelled since) has lapsed. -#}
customer_churn as (
    select
        bases.basis,
        published_customers.customer_id,
        coalesce(
            {{ is_churned(dbt.datediff('last_orders.last_order_date', 'bases.basis_end', 'day')) }},
            1
        ) as is_churned
    from bases
    cross join published_customers
    left join last_orders
        on
            bases.basis = last_orders.basis
            and published_customers.customer_id = last_orders.customer_id
    where bases.basis <> 'since_published'
),

{# Answers per basis: the NPS window before the basis date, or those received since the last
    refresh (from the files it did not read). -#}
customer_answers as (
    select
        bases.basis,
        nps_responses.customer_id,
        count(*) as nps_responses,
        sum({{ nps_promoter('nps_responses.score') }}) as promoters,
        sum({{ nps_detractor('nps_responses.score') }}) as detractors
    from bases
    inner join nps_responses
        on
            nps_responses.responded_at <= bases.basis_end
            and (
                (
                    bases.basis <> 'since_published'
                    and nps_responses.responded_at > cast(
                        {{ dbt.dateadd(
                            'day', -(run_var('nps_window_days') | int), 'bases.basis_end'
                        ) }}
                        as date
                    )
                )
                or (
                    bases.basis = 'since_published'
                    {%- if new_files %}
                    and nps_responses.source_file in (
                        {%- for file in new_files %}
                        '{{ file | replace("'", "''") }}'{{ "," if not loop.last }}
                        {%- endfor %}
                    )
                    {%- else %}
                    and false
                    {%- endif %}
                )
            )
    group by bases.basis, nps_responses.customer_id
),

churn_totals as (
    select
        customer_churn.basis,
        customer_groups.kpi_segment,
        count(*) as customers,
        sum(customer_churn.is_churned) as churned_customers
    from customer_churn
    inner join customer_groups
        on customer_churn.customer_id = customer_groups.customer_id
    group by customer_churn.basis, customer_groups.kpi_segment
),

answer_totals as (
    select
        customer_answers.basis,
        customer_groups.kpi_segment,
        sum(customer_answers.nps_responses) as nps_responses,
        sum(customer_answers.promoters) as promoters,
        sum(customer_answers.detractors) as detractors
    from customer_answers
    inner join customer_groups
        on customer_answers.customer_id = customer_groups.customer_id
    group by customer_answers.basis, customer_groups.kpi_segment
),

basis_segments as (
    select distinct
        bases.basis,
        bases.basis_start,
        bases.basis_end,
        customer_groups.kpi_segment
    from bases
    cross join customer_groups
),

monitored as (
    select
        {{ dbt.concat([
            "'" ~ run_var('monitor_id', 'adhoc') ~ "'", "'|'", "basis_segments.basis", "'|'",
            "basis_segments.kpi_segment"
        ]) }} as monitor_key,
        '{{ run_var("monitor_id", "adhoc") }}' as monitor_id,
        {{ dbt.current_timestamp() }} as monitored_at,
        cast('{{ published_as_of }}' as date) as published_as_of,
        {{ as_of_date() }} as today_as_of,
        basis_segments.basis,
        basis_segments.basis_start,
        basis_segments.basis_end,
        basis_segments.kpi_segment as segment,
        cast(churn_totals.customers as integer) as customers,
        cast(churn_totals.churned_customers as integer) as churned_customers,
        cast(churn_totals.churned_customers as double)
        / cast(nullif(churn_totals.customers, 0) as double) as churn_rate,
        cast(coalesce(answer_totals.nps_responses, 0) as integer) as nps_responses,
        {{ nps_score('answer_totals.promoters', 'answer_totals.detractors',
            'answer_totals.nps_responses') }} as nps,
        kpi_history.nps as published_nps,
        kpi_history.churn_rate as published_churn_rate
    from basis_segments
    left join churn_totals
        on
            basis_segments.basis = churn_totals.basis
            and basis_segments.kpi_segment = churn_totals.kpi_segment
    left join answer_totals
        on
            basis_segments.basis = answer_totals.basis
            and basis_segments.kpi_segment = answer_totals.kpi_segment
    left join kpi_history
        on
            kpi_history.as_of = cast('{{ published_as_of }}' as date)
            and basis_segments.kpi_segment = kpi_history.segment
)

select * from monitored
{%- if not monitoring %}
where 1 = 0
{%- endif %}
