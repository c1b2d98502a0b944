{#- Retention, orders and cumulative revenue per customer of every acquisition cohort, for each
    period since acquisition up to the as-of date (zero-activity periods included; the as-of
    period flagged when it is partial). -#}
with

cohort_periods as (
    select * from {{ ref('int_cohort_periods') }}
),

customer_periods as (
    select * from {{ ref('int_customer_periods__activity') }}
),

period_activity as (
    select
        cohort,
        period_index,
        sum(case when orders > 0 then 1 else 0 end) as active_customers,
        sum(orders) as orders,
        sum(revenue) as revenue
    from customer_periods
    group by cohort, period_index
),

retention as (
    select
        cohort_periods.cohort,
        cast('{{ cohort_grain() }}' as string) as cohort_grain,
        cohort_periods.period_index,
        cohort_periods.period_start,
        cohort_periods.cohort_size,
        cast(coalesce(period_activity.active_customers, 0) as integer) as active_customers,
        {{ safe_divide('coalesce(period_activity.active_customers, 0)',
            'cohort_periods.cohort_size') }} as retention_rate,
        cast(coalesce(period_activity.orders, 0) as integer) as orders,
        cast(coalesce(period_activity.revenue, 0) as decimal(18, 2)) as revenue,
        {{ safe_divide('sum(coalesce(period_activity.revenue, 0)) over (
            partition by cohort_periods.cohort
            order by cohort_periods.period_index
            rows between unbounded preceding and current row
        )', 'cohort_periods.cohort_size') }} as clv_to_date,
        {{ as_of_date() }} as as_of,
        cohort_periods.is_partial_period
    from cohort_periods
    left join period_activity
        on
            cohort_periods.cohort = period_activity.cohort
            and cohort_periods.period_index = period_activity.period_index
)

select * from retention
