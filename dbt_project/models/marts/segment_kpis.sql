{#- KPIs per segment (all 11, even when empty) and one overall row (overall_label(), 'All') over
    scored customers. Prospects (customers known at the as-of date without any qualifying order
    up to it) are counted on the overall row only. -#}
with

customer_rfm as (
    select * from {{ ref('customer_rfm') }}
),

rfm_values as (
    select * from {{ ref('int_customers__rfm_values') }}
),

customer_cohorts as (
    select * from {{ ref('int_customers__cohorts') }}
),

master_customers as (
    select * from {{ ref('stg_customers') }}
),

customer_nps as (
    select * from {{ ref('int_customers__nps') }}
),

segments as (
    select * from {{ ref('segments') }}
),

customer_facts as (
    select
        customer_rfm.customer_id,
        customer_rfm.segment,
        customer_rfm.monetary,
        customer_rfm.frequency,
        customer_rfm.recency_days,
        rfm_values.returned_orders,
        rfm_values.tickets,
        coalesce(customer_nps.nps_responses, 0) as nps_responses,
        coalesce(customer_nps.promoters, 0) as promoters,
        coalesce(customer_nps.detractors, 0) as detractors,
        {{ is_churned('customer_rfm.recency_days') }} as is_churned
    from customer_rfm
    inner join rfm_values
        on customer_rfm.customer_id = rfm_values.customer_id
    left join customer_nps
        on customer_rfm.customer_id = customer_nps.customer_id
),

grouped_facts as (
    {{ with_overall_rows('customer_facts', 'kpi_segment') }}
),

group_totals as (
    select
        kpi_segment as segment,
        count(*) as customers,
        sum(monetary) as revenue,
        sum(frequency) as orders,
        sum(recency_days) as recency_days,
        sum(returned_orders) as returned_orders,
        sum(tickets) as tickets,
        sum(nps_responses) as nps_responses,
        sum(promoters) as promoters,
        sum(detractors) as detractors,
        sum(is_churned) as churned_customers
    from grouped_facts
    group by kpi_segment
),

overall as (
    select
        count(*) as total_customers,
        sum(monetary) as total_revenue
    from customer_facts
),

prospects as (
    select count(*) as prospects
    from master_customers
    left join customer_cohorts
        on master_customers.customer_id = customer_cohorts.customer_id
    where
        customer_cohorts.customer_id is null
        and (
            master_customers.created_at is null
            or cast(master_customers.created_at as date) <= {{ as_of_date() }}
        )
),

segment_rows as (
    select segment, priority from segments
    union all
    select {{ overall_label() }} as segment, 0 as priority
),

kpis as (
    select
        {{ as_of_date() }} as as_of,
        segment_rows.segment,
        cast(segment_rows.priority as integer) as priority,
        cast(coalesce(group_totals.customers, 0) as integer) as customers,
        {{ safe_divide('coalesce(group_totals.customers, 0)', 'overall.total_customers') }}
            as share,
        cast(coalesce(group_totals.revenue, 0) as decimal(18, 2)) as revenue,
        {{ safe_divide('group_totals.revenue', 'overall.total_revenue') }} as revenue_share,
        cast(coalesce(group_totals.orders, 0) as integer) as orders,
        {{ safe_divide('group_totals.revenue', 'group_totals.orders') }} as avg_basket,
        {{ safe_divide('group_totals.orders', 'group_totals.customers') }} as avg_frequency,
        {{ safe_divide('group_totals.recency_days', 'group_totals.customers') }}
            as avg_recency_days,
        cast(coalesce(group_totals.returned_orders, 0) as integer) as returned_orders,
        {{ safe_divide('group_totals.returned_orders', 'group_totals.orders') }} as return_rate,
        cast(coalesce(group_totals.tickets, 0) as integer) as tickets,
        {{ safe_divide('group_totals.tickets', 'group_totals.customers') }}
            as tickets_per_customer,
        {{ nps_score('group_totals.promoters', 'group_totals.detractors',
            'group_totals.nps_responses') }} as nps,
        cast(coalesce(group_totals.nps_responses, 0) as integer) as nps_responses,
        cast(coalesce(group_totals.churned_customers, 0) as integer) as churned_customers,
        {{ safe_divide('group_totals.churned_customers', 'group_totals.customers') }}
            as churn_rate,
        cast(
            case when segment_rows.segment = {{ overall_label() }} then prospects.prospects end
            as integer
        ) as prospects,
        coalesce(group_totals.nps_responses, 0) >= {{ nps_min_responses() }} as is_nps_reliable
    from segment_rows
    cross join overall
    cross join prospects
    left join group_totals
        on segment_rows.segment = group_totals.segment
)

select * from kpis
